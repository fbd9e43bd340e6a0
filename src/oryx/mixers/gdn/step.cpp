// One Gated DeltaNet token for decoding, in rank-one form: (I - b k k^T) S = S - k (b k^T S)
// costs O(K V) instead of the O(K^2 V) of forming the transition matrix.
#include "oryx/mixers/gdn/gdn.h"

namespace oryx {

RecurrenceOutput gdn_step(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                          const torch::Tensor& g, const torch::Tensor& beta,
                          const torch::Tensor& state, double scale) {
  recurrence_check_step_inputs("gdn_step", q, k, v, g, beta, state);
  auto dt = state.scalar_type();
  auto kf = k.to(dt);
  auto a = g.to(dt).exp().unsqueeze(-1).unsqueeze(-1);  // [B,H,1,1]
  auto b = beta.to(dt).unsqueeze(-1);                   // [B,H,1]
  auto kS = torch::matmul(kf.unsqueeze(-2), state).squeeze(-2);          // [B,H,V] = k^T S
  auto err = b * (v.to(dt) - a.squeeze(-1) * kS);                        // [B,H,V]
  auto S = a * state + kf.unsqueeze(-1) * err.unsqueeze(-2);
  auto o = torch::matmul(q.to(dt).unsqueeze(-2), S).squeeze(-2) * scale;  // [B,H,V]
  return {o.to(v.scalar_type()), S};
}

}  // namespace oryx
