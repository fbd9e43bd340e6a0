// One decoding query against the whole cache: a (1 x L) softmax per head.
#include "oryx/common/shape.h"
#include "oryx/mixers/attention/attention.h"

namespace oryx {

torch::Tensor attention_step(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                             double scale) {
  check_shape(q, "attention_step: q", {-1, -1, -1});
  check_shape(k, "attention_step: k", {q.size(0), -1, q.size(1), q.size(2)});
  check_shape(v, "attention_step: v", {q.size(0), k.size(1), q.size(1), -1});
  // Scores and softmax in fp32 (fp64 for fp64 inputs), as the reference does.
  auto dt = q.scalar_type() == torch::kFloat64 ? torch::kFloat64 : torch::kFloat32;
  auto scores = torch::einsum("bhk,blhk->bhl", {q, k}).to(dt) * scale;
  auto w = torch::softmax(scores, -1).to(v.scalar_type());
  return torch::einsum("bhl,blhv->bhv", {w, v});
}

}  // namespace oryx
