// The reference Gated DeltaNet: one token at a time, a literal transcription of the
// recurrence in gdn.h (the matrix I - beta k k^T is formed explicitly), computed in the
// state dtype (fp32, or fp64 for gradient checks). Slow on purpose; every faster form,
// gdn_step included, is tested against it.
#include "oryx/mixers/gdn/gdn.h"

namespace oryx {

RecurrenceOutput gdn_naive(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                           const torch::Tensor& g, const torch::Tensor& beta,
                           const torch::Tensor& initial_state, double scale) {
  recurrence_check_inputs("gdn_naive", q, k, v, g, beta, initial_state);
  int64_t K = q.size(3);
  torch::Tensor S = recurrence_initial_state(initial_state, v, K);  // [B,H,K,V]
  auto dt = S.scalar_type();
  auto I = torch::eye(K, S.options());
  std::vector<torch::Tensor> outs;
  for (int64_t t = 0; t < q.size(1); ++t) {
    auto q_t = q.select(1, t).to(dt).unsqueeze(-1);  // [B,H,K,1]
    auto k_t = k.select(1, t).to(dt).unsqueeze(-1);  // [B,H,K,1]
    auto v_t = v.select(1, t).to(dt).unsqueeze(-1);  // [B,H,V,1]
    auto a_t = g.select(1, t).to(dt).exp().unsqueeze(-1).unsqueeze(-1);
    auto b_t = beta.select(1, t).to(dt).unsqueeze(-1).unsqueeze(-1);
    auto transition = I - b_t * torch::matmul(k_t, k_t.transpose(-1, -2));  // [B,H,K,K]
    S = a_t * torch::matmul(transition, S) + b_t * torch::matmul(k_t, v_t.transpose(-1, -2));
    outs.push_back(torch::matmul(q_t.transpose(-1, -2), S).squeeze(-2) * scale);  // [B,H,V]
  }
  torch::Tensor o = outs.empty() ? torch::zeros_like(v) : torch::stack(outs, 1);
  return {o.to(v.scalar_type()), S};
}

}  // namespace oryx
