// One SSD token for decoding: decay the state, add the rank-one write, read it with q.
#include "oryx/mixers/mamba2/mamba2.h"

namespace oryx {

RecurrenceOutput ssd_step(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                          const torch::Tensor& g, const torch::Tensor& beta,
                          const torch::Tensor& state, double scale) {
  recurrence_check_step_inputs("ssd_step", q, k, v, g, beta, state);
  auto dt = state.scalar_type();
  auto a = g.to(dt).exp().unsqueeze(-1).unsqueeze(-1);             // [B,H,1,1]
  auto bv = (beta.to(dt).unsqueeze(-1) * v.to(dt)).unsqueeze(-2);  // [B,H,1,V]
  auto S = a * state + k.to(dt).unsqueeze(-1) * bv;
  auto o = torch::matmul(q.to(dt).unsqueeze(-2), S).squeeze(-2) * scale;
  return {o.to(v.scalar_type()), S};
}

}  // namespace oryx
