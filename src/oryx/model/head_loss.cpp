#include "oryx/model/head_loss.h"

#include <torch/autograd.h>

#include <algorithm>

#include "oryx/common/error.h"
#include "oryx/common/shape.h"
#include "oryx/eval/loss.h"
#include "oryx/layer/ops.h"
#include "oryx/mixers/dispatch.h"
#ifdef ORYX_WITH_CUDA_KERNELS
#include "oryx/kernels/cross_entropy_ops.h"
#endif

namespace oryx {

namespace {

using torch::Tensor;

constexpr int64_t kChunkLogitBytes = int64_t{1} << 28;

// Log-softmax statistics in fp32 (fp64 for fp64 inputs), as token_loss computes them.
torch::ScalarType accumulate_dtype(torch::ScalarType t) {
  return t == torch::kFloat64 ? torch::kFloat64 : torch::kFloat32;
}

// (softmax(logits) - onehot(targets)) * scale per row, in the logits' dtype: our kernel in
// place on bf16 CUDA logits, else the formula in the accumulation dtype.
Tensor d_logits(Tensor logits, const Tensor& targets, const Tensor& lse, const Tensor& scale) {
#ifdef ORYX_WITH_CUDA_KERNELS
  if (kernels_cross_entropy_supported(logits) && lse.scalar_type() == torch::kFloat32) {
    kernels_cross_entropy_backward_(logits, targets, lse, scale);
    return logits;
  }
#endif
  auto p = (logits.to(lse.scalar_type()) - lse.unsqueeze(1)).exp_();
  p.scatter_add_(1, targets.unsqueeze(1), -torch::ones({p.size(0), 1}, p.options()));
  return (p * scale.unsqueeze(1)).to(logits.scalar_type());
}

class LinearCrossEntropy : public torch::autograd::Function<LinearCrossEntropy> {
 public:
  static Tensor forward(torch::autograd::AutogradContext* ctx, const Tensor& hidden, const Tensor& weight,
                        const Tensor& targets, int64_t ignore_index, int64_t chunk) {
    auto dt = matmul_dtype(hidden);
    auto acc = accumulate_dtype(hidden.scalar_type());
    auto h = hidden.to(dt).contiguous();
    auto w = weight.to(dt).contiguous();
    const int64_t N = h.size(0);
    auto valid = targets != ignore_index;
    auto safe_targets = torch::where(valid, targets, torch::zeros_like(targets));
    auto lse = torch::empty({N}, h.options().dtype(acc));
    auto target_logit = torch::empty({N}, h.options().dtype(acc));
    for (int64_t r = 0; r < N; r += chunk) {
      int64_t n = std::min(chunk, N - r);
      auto logits = at::mm(h.narrow(0, r, n), w.t());
#ifdef ORYX_WITH_CUDA_KERNELS
      if (kernels_cross_entropy_supported(logits)) {
        auto lse_c = lse.narrow(0, r, n), target_c = target_logit.narrow(0, r, n);
        kernels_cross_entropy_forward(logits, safe_targets.narrow(0, r, n), lse_c, target_c);
        continue;
      }
#endif
      logits = logits.to(acc);
      lse.narrow(0, r, n).copy_(at::logsumexp(logits, {1}));
      target_logit.narrow(0, r, n).copy_(logits.gather(1, safe_targets.narrow(0, r, n).unsqueeze(1)).squeeze(1));
    }
    auto count = valid.sum().clamp_min(1).to(acc);  // stays on the device: no host sync
    auto loss = ((lse - target_logit) * valid.to(acc)).sum() / count;
    ctx->save_for_backward({h, w, safe_targets, valid, lse, count});
    ctx->saved_data["chunk"] = chunk;
    ctx->saved_data["hidden_dtype"] = static_cast<int64_t>(hidden.scalar_type());
    ctx->saved_data["weight_dtype"] = static_cast<int64_t>(weight.scalar_type());
    return loss;
  }

  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    auto s = ctx->get_saved_variables();
    const auto &h = s[0], &w = s[1], &targets = s[2], &valid = s[3], &lse = s[4], &count = s[5];
    const int64_t chunk = ctx->saved_data["chunk"].toInt();
    auto acc = lse.scalar_type();
    // d loss / d logit[i, v] = (softmax[i, v] - [v == target_i]) * valid_i * grad / count.
    auto row_scale = valid.to(acc) * (grads[0].to(acc) / count);
    auto dh = torch::empty_like(h);
    auto dw = torch::zeros(w.sizes(), w.options().dtype(acc));
    const int64_t N = h.size(0);
    for (int64_t r = 0; r < N; r += chunk) {
      int64_t n = std::min(chunk, N - r);
      auto hc = h.narrow(0, r, n);
      auto dlogits = d_logits(at::mm(hc, w.t()), targets.narrow(0, r, n), lse.narrow(0, r, n),
                              row_scale.narrow(0, r, n));
      dh.narrow(0, r, n).copy_(at::mm(dlogits, w));
      dw.add_(at::mm(dlogits.t(), hc));
    }
    auto hidden_dtype = static_cast<c10::ScalarType>(ctx->saved_data["hidden_dtype"].toInt());
    auto weight_dtype = static_cast<c10::ScalarType>(ctx->saved_data["weight_dtype"].toInt());
    return {dh.to(hidden_dtype), dw.to(weight_dtype), Tensor(), Tensor(), Tensor()};
  }
};

}  // namespace

Tensor linear_cross_entropy(const Tensor& hidden, const Tensor& weight, const Tensor& targets, int64_t ignore_index,
                            int64_t chunk_rows) {
  ORYX_CHECK(hidden.dim() == 2 && weight.dim() == 2 && hidden.size(1) == weight.size(1),
             "linear_cross_entropy: hidden ", shape_str(hidden.sizes()), " and weight ", shape_str(weight.sizes()),
             " must be [N,D] and [V,D]");
  ORYX_CHECK(targets.dim() == 1 && targets.size(0) == hidden.size(0) && targets.scalar_type() == torch::kLong,
             "linear_cross_entropy: targets must be int64 [", hidden.size(0), "], got ", shape_str(targets.sizes()));
  int64_t chunk = chunk_rows > 0 ? chunk_rows : std::max<int64_t>(1, kChunkLogitBytes / (4 * weight.size(0)));
  return LinearCrossEntropy::apply(hidden, weight, targets, ignore_index, chunk);
}

namespace {

// The head + loss of hidden states h [B,T,D] (targets moved to h's device: a no-op when there).
Tensor hidden_loss(OryxModel& model, const Tensor& h, const Tensor& targets, int64_t ignore_index) {
  return linear_cross_entropy(h.reshape({-1, h.size(-1)}), model->head_weight(),
                              targets.reshape({-1}).to(h.device()), ignore_index);
}

}  // namespace

Tensor model_loss(OryxModel& model, const Tensor& tokens, const Tensor& modes, const Tensor& targets,
                  int64_t ignore_index) {
  if (reference_forced()) return token_loss(model->forward(tokens, modes), targets.to(model->device()), ignore_index);
  return hidden_loss(model, model->hidden(tokens, modes), targets, ignore_index);
}

Tensor model_loss(OryxModel& model, const Tensor& tokens, const TokenModes& modes, const Tensor& targets,
                  int64_t ignore_index) {
  return hidden_loss(model, model->hidden(tokens, modes), targets, ignore_index);
}

}  // namespace oryx
