// One decoding query against the whole cache: a (1 x L) softmax per head.
#include <cmath>

#include "oryx/common/shape.h"
#include "oryx/mixers/attention/attention.h"
#include "oryx/mixers/dispatch.h"
#ifdef ORYX_WITH_CUDA_KERNELS
#include "oryx/kernels/decode_attention_ops.h"
#endif

namespace oryx {

torch::Tensor attention_step(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                             double scale, const torch::Tensor& key_counts) {
  check_shape(q, "attention_step: q", {-1, -1, -1});
  check_shape(k, "attention_step: k", {q.size(0), -1, q.size(1), q.size(2)});
  check_shape(v, "attention_step: v", {q.size(0), k.size(1), q.size(1), -1});
#ifdef ORYX_WITH_CUDA_KERNELS
  // bf16 caches on the GPU: flash-decoding, K and V read in place, lengths read on the device.
  if (!reference_forced() && kernels_decode_attention_supported(q, k, v))
    return kernels_decode_attention(q, k, v, scale, key_counts);
#endif
  // Scores and softmax in fp32 (fp64 for fp64 inputs), as the reference does.
  auto dt = q.scalar_type() == torch::kFloat64 ? torch::kFloat64 : torch::kFloat32;
  auto scores = torch::einsum("bhk,blhk->bhl", {q, k}).to(dt) * scale;
  if (key_counts.defined()) {
    check_shape(key_counts, "attention_step: key_counts", {q.size(0)});
    auto beyond = torch::arange(k.size(1), key_counts.options()).unsqueeze(0) >= key_counts.unsqueeze(1);  // [B,L]
    scores = scores.masked_fill(beyond.unsqueeze(1), -INFINITY);
  }
  auto w = torch::softmax(scores, -1).to(v.scalar_type());
  return torch::einsum("bhl,blhv->bhv", {w, v});
}

}  // namespace oryx
