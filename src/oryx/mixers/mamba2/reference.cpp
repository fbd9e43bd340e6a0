// The reference SSD recurrence: one token at a time, in the state dtype. Slow on purpose.
#include "oryx/mixers/mamba2/mamba2.h"

namespace oryx {

RecurrenceOutput ssd_naive(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                           const torch::Tensor& g, const torch::Tensor& beta,
                           const torch::Tensor& initial_state, double scale) {
  recurrence_check_inputs("ssd_naive", q, k, v, g, beta, initial_state);
  torch::Tensor S = recurrence_initial_state(initial_state, v, q.size(3));  // [B,H,K,V]
  auto dt = S.scalar_type();
  std::vector<torch::Tensor> outs;
  for (int64_t t = 0; t < q.size(1); ++t) {
    auto q_t = q.select(1, t).to(dt);  // [B,H,K]
    auto k_t = k.select(1, t).to(dt);
    auto v_t = v.select(1, t).to(dt);  // [B,H,V]
    auto a_t = g.select(1, t).to(dt).exp().unsqueeze(-1).unsqueeze(-1);
    auto b_t = beta.select(1, t).to(dt).unsqueeze(-1).unsqueeze(-1);
    S = a_t * S + b_t * k_t.unsqueeze(-1) * v_t.unsqueeze(-2);
    outs.push_back((q_t.unsqueeze(-1) * S).sum(-2) * scale);  // [B,H,V]
  }
  torch::Tensor o = outs.empty() ? torch::zeros_like(v) : torch::stack(outs, 1);
  return {o.to(v.scalar_type()), S};
}

}  // namespace oryx
