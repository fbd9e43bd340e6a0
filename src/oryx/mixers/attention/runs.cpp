// Chunk-sparse attention for training batches that mix modes. Each entry of AttentionRuns
// (a sequence's run of mode-A tokens, layer/attention_runs.h) is one sequence of a
// variable-length batch: its queries are the run's tokens, its keys every position of its
// sequence up to the run's end. Flash attention's varlen causal mask is bottom-right aligned,
// which is exactly absolute-position causality for such an entry; so one kernel launch serves
// a batch whose sequences query different chunks, and the work is about that of the A tokens
// alone (the union-of-positions path queries, for every sequence, any position some sequence
// has in mode A).
#include <ATen/ops/_flash_attention_backward.h>
#include <ATen/ops/_flash_attention_forward.h>
#include <torch/autograd.h>

#include "oryx/common/error.h"
#include "oryx/common/shape.h"
#include "oryx/mixers/attention/attention.h"
#include "oryx/mixers/dispatch.h"
#ifdef ORYX_WITH_CUDA_KERNELS
#include "oryx/kernels/entry_key_sum_ops.h"
#endif

namespace oryx {

namespace {

using torch::Tensor;
using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

bool flash_supported(const Tensor& q, const Tensor& k, const Tensor& v) {
  auto dt = q.scalar_type();
  int64_t K = q.size(-1);
  return q.is_cuda() && (dt == torch::kBFloat16 || dt == torch::kHalf) && k.scalar_type() == dt &&
         v.scalar_type() == dt && v.size(-1) == K && K % 8 == 0 && K <= 256 && !reference_forced();
}

// The gradient of every position's key (or value) from the per-entry ones: entries of one
// sequence share keys. Our kernel on bf16 Hopper tensors, else this index_add in fp32.
std::pair<Tensor, Tensor> sum_entry_key_grads(const Tensor& dk_entries, const Tensor& dv_entries,
                                              const Tensor& k_rows, const Tensor& cu_k, const Tensor& seq_entries,
                                              int64_t B, int64_t T) {
#ifdef ORYX_WITH_CUDA_KERNELS
  if (kernels_entry_key_sum_supported(dk_entries, dv_entries))
    return kernels_entry_key_sum(dk_entries, dv_entries, cu_k, seq_entries, B, T);
#endif
  auto sum = [&](const Tensor& d) {
    auto acc = torch::zeros({B * T, d.size(1), d.size(2)}, d.options().dtype(torch::kFloat32));
    return acc.index_add_(0, k_rows, d.to(torch::kFloat32)).to(d.scalar_type());
  };
  return {sum(dk_entries), sum(dv_entries)};
}

// Keys and values are gathered entry by entry in the forward and again in the backward, so
// only the unpacked k and v stay saved; the gathered copies live one call each.
struct FlashRuns : public torch::autograd::Function<FlashRuns> {
  static Tensor forward(AutogradContext* ctx, const Tensor& q, const Tensor& k, const Tensor& v,
                        const Tensor& k_rows, const Tensor& cu_q, const Tensor& cu_k, const Tensor& seq_entries,
                        int64_t max_q, int64_t max_k, int64_t batch, double scale) {
    auto kp = k.index_select(0, k_rows), vp = v.index_select(0, k_rows);
    auto [out, lse, philox_seed, philox_offset, debug] = at::_flash_attention_forward(
        q, kp, vp, cu_q, cu_k, max_q, max_k, 0.0, /*is_causal=*/true, false, scale);
    ctx->save_for_backward({q, k, v, k_rows, cu_q, cu_k, seq_entries, out, lse, philox_seed, philox_offset});
    ctx->saved_data["max_q"] = max_q;
    ctx->saved_data["max_k"] = max_k;
    ctx->saved_data["batch"] = batch;
    ctx->saved_data["scale"] = scale;
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto s = ctx->get_saved_variables();
    const auto &q = s[0], &k = s[1], &v = s[2], &k_rows = s[3], &cu_q = s[4], &cu_k = s[5], &seq_entries = s[6];
    const auto &out = s[7], &lse = s[8], &philox_seed = s[9], &philox_offset = s[10];
    auto kp = k.index_select(0, k_rows), vp = v.index_select(0, k_rows);
    auto [dq, dkp, dvp] = at::_flash_attention_backward(
        grads[0].contiguous(), q, kp, vp, out, lse, cu_q, cu_k, ctx->saved_data["max_q"].toInt(),
        ctx->saved_data["max_k"].toInt(), 0.0, /*is_causal=*/true, philox_seed, philox_offset,
        ctx->saved_data["scale"].toDouble());
    int64_t B = ctx->saved_data["batch"].toInt();
    auto [dk, dv] = sum_entry_key_grads(dkp, dvp, k_rows, cu_k, seq_entries, B, k.size(0) / B);
    return {dq, dk, dv, {}, {}, {}, {}, {}, {}, {}, {}};
  }
};

void check_runs_inputs(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionRuns& runs) {
  ORYX_CHECK(runs.defined() && !runs.is_dense(), "attention_runs: the plan has no entries");
  check_shape(q, "attention_runs: q", {runs.q_rows.size(0), -1, -1});
  check_shape(k, "attention_runs: k", {runs.batch * runs.seq_len, q.size(1), q.size(2)});
  check_shape(v, "attention_runs: v", {k.size(0), q.size(1), -1});
}

}  // namespace

torch::Tensor attention_runs_reference(const Tensor& q, const Tensor& k, const Tensor& v,
                                       const AttentionRuns& runs, double scale) {
  check_runs_inputs(q, k, v, runs);
  std::vector<Tensor> outs;
  int64_t row = 0, T = runs.seq_len;
  for (const auto& [b, s, e] : runs.entries) {
    auto qr = q.narrow(0, row, e - s).unsqueeze(0);
    auto kr = k.narrow(0, b * T, e).unsqueeze(0), vr = v.narrow(0, b * T, e).unsqueeze(0);
    outs.push_back(attention_chunked(qr, kr, vr, Tensor(), scale).squeeze(0));  // the last e-s positions
    row += e - s;
  }
  return torch::cat(outs, 0);
}

torch::Tensor attention_runs(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionRuns& runs,
                             double scale) {
  check_runs_inputs(q, k, v, runs);
  if (!flash_supported(q, k, v)) return attention_runs_reference(q, k, v, runs, scale);
  return FlashRuns::apply(q.contiguous(), k.contiguous(), v.contiguous(), runs.k_rows, runs.cu_q, runs.cu_k,
                          runs.seq_entries, runs.max_q, runs.max_k, runs.batch, scale);
}

}  // namespace oryx
