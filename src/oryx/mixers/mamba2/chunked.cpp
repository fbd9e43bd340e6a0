// Chunked SSD. Per head and chunk of C tokens with state S0 at its start and G_t the
// cumulative log decay inside the chunk, the recurrence unrolls to
//   S_t = e^{G_t} S0 + sum_{s<=t} e^{G_t - G_s} b_s k_s v_s^T, so
//   O   = scale [ e^G (Q S0) + (Q K^T o e^{G_t - G_s} o causal) diag(b) V ]
//   S_C = e^{G_C} S0 + (e^{G_C - G} b K)^T V.
// The intra-chunk products are batched over all chunks; only the state passes serially.
#include "oryx/common/error.h"
#include "oryx/mixers/mamba2/mamba2.h"

namespace oryx {

RecurrenceOutput ssd_chunked(const torch::Tensor& q, const torch::Tensor& k,
                             const torch::Tensor& v, const torch::Tensor& g,
                             const torch::Tensor& beta, const torch::Tensor& initial_state,
                             double scale, int64_t chunk) {
  recurrence_check_inputs("ssd_chunked", q, k, v, g, beta, initial_state);
  ORYX_CHECK(chunk > 0, "ssd_chunked: chunk must be positive, got ", chunk);
  torch::Tensor S = recurrence_initial_state(initial_state, v, q.size(3));
  auto dt = S.scalar_type();
  int64_t T = q.size(1);
  if (T == 0) return {torch::zeros_like(v), S};

  auto Q = recurrence_to_chunks(q.to(dt), chunk);                   // [B,H,N,C,K]
  auto Kc = recurrence_to_chunks(k.to(dt), chunk);
  auto bV = recurrence_to_chunks(beta.to(dt).unsqueeze(-1) * v.to(dt), chunk);  // [B,H,N,C,V]
  auto G = recurrence_to_chunks(g.to(dt), chunk).cumsum(-1);        // [B,H,N,C]
  int64_t C = chunk;

  auto diff = G.unsqueeze(-1) - G.unsqueeze(-2);
  auto causal = torch::ones({C, C}, G.options().dtype(torch::kBool)).tril();
  auto L = diff.masked_fill(causal.logical_not(), -INFINITY).exp();  // e^{G_t - G_s}, s <= t
  auto P = torch::matmul(Q, Kc.transpose(-1, -2)) * L * scale;
  auto intra = torch::matmul(P, bV);                                 // [B,H,N,C,V]
  auto Qg = Q * G.exp().unsqueeze(-1) * scale;
  auto G_last = G.select(-1, C - 1);
  auto Kg = Kc * (G_last.unsqueeze(-1) - G).exp().unsqueeze(-1);

  std::vector<torch::Tensor> outs;
  for (int64_t n = 0; n < Q.size(2); ++n) {
    outs.push_back(intra.select(2, n) + torch::matmul(Qg.select(2, n), S));
    S = S * G_last.select(2, n).exp().unsqueeze(-1).unsqueeze(-1) +
        torch::matmul(Kg.select(2, n).transpose(-1, -2), bV.select(2, n));
  }
  auto o = recurrence_from_chunks(torch::stack(outs, 2), T);
  return {o.to(v.scalar_type()), S};
}

}  // namespace oryx
