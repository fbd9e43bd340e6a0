// Batched attention for training and prefill: torch's scaled_dot_product_attention (flash or
// memory-efficient kernels on CUDA). The plain causal case (every position queried) uses
// is_causal; any other query set gets an explicit boolean mask, because SDPA's is_causal is
// top-left aligned when Tq != Tk and we need bottom-right (absolute-position) causality.
#include "oryx/mixers/attention/attention.h"

#include <ATen/Context.h>
#include <c10/util/strides.h>

namespace oryx {

torch::Tensor attention_chunked(const torch::Tensor& q, const torch::Tensor& k,
                                const torch::Tensor& v, const torch::Tensor& q_pos, double scale) {
  auto pos = attention_check_inputs("attention_chunked", q, k, v, q_pos);
  int64_t Tq = q.size(1), Tk = k.size(1);
  if (Tq == 0) return torch::zeros({q.size(0), 0, q.size(2), v.size(3)}, v.options());
  // Keys and values read from a cache come as narrowed views with the capacity's batch stride;
  // SDPA then passes over its flash kernels for fp32 math (an all-A prefill of 1792 tokens took
  // 95 ms instead of 16 on an H200). A compact copy costs far less. At batch 1 such a view
  // still counts as contiguous (a size-1 dimension's stride is ignored), so the strides are
  // compared, not is_contiguous().
  auto compact = [](const torch::Tensor& t) {
    return t.strides().equals(c10::contiguous_strides(t.sizes())) ? t : t.clone(at::MemoryFormat::Contiguous);
  };
  auto qt = q.transpose(1, 2), kt = compact(k).transpose(1, 2), vt = compact(v).transpose(1, 2);  // [B,H,T,*]
  torch::Tensor o;
  bool plain_causal = Tq == Tk && !q_pos.defined();
  if (plain_causal) {
    o = at::scaled_dot_product_attention(qt, kt, vt, {}, 0.0, /*is_causal=*/true, scale);
  } else {
    auto keys = torch::arange(Tk, pos.options());
    auto mask = keys.unsqueeze(0) <= pos.unsqueeze(1);  // [Tq,Tk], true = may attend
    o = at::scaled_dot_product_attention(qt, kt, vt, mask, 0.0, false, scale);
  }
  return o.transpose(1, 2);
}

SdpaWithoutCudnn::SdpaWithoutCudnn() : previous_(at::globalContext().userEnabledCuDNNSDP()) {
  at::globalContext().setSDPUseCuDNN(false);
}

SdpaWithoutCudnn::~SdpaWithoutCudnn() { at::globalContext().setSDPUseCuDNN(previous_); }

}  // namespace oryx
