// Chunked Gated DeltaNet: the WY / UT-transform form (Yang et al. 2024, "Parallelizing
// Linear Transformers with the Delta Rule"), written as named stages on whole tensors so
// that autograd differentiates it. Derivation (per head, chunk of C tokens, state S0 at
// the chunk's start, G_t = g_1 + ... + g_t the cumulative log decay inside the chunk):
//
//   the delta rule is S_t = a_t S_{t-1} + k_t e_t^T with e_t = b_t (v_t - a_t S_{t-1}^T k_t);
//   unrolling, S_t = e^{G_t} S0 + sum_{s<=t} e^{G_t - G_s} k_s e_s^T, and the e_t solve
//   (I + A) E = diag(b) V - diag(b e^G) K S0,   A_ts = b_t (k_t.k_s) e^{G_t - G_s} for s < t.
//   With W = (I+A)^{-1} diag(b e^G) K and U = (I+A)^{-1} diag(b) V (one triangular solve
//   each, done for all chunks at once), E = U - W S0 and
//     O     = scale [ e^G (Q S0) + (Q K^T o e^{G_t - G_s} o causal) E ]
//     S_C   = e^{G_C} S0 + (e^{G_C - G} K)^T E.
// Only the last three lines run chunk after chunk; everything else is batched.
#include "oryx/common/error.h"
#include "oryx/mixers/gdn/gdn.h"

namespace oryx {

namespace {

// exp(G_t - G_s) on and below the diagonal (s <= t), 0 above; `strict` drops the diagonal.
// Masking the exponent (not the result) keeps the upper triangle from overflowing.
torch::Tensor decay_matrix(const torch::Tensor& G, bool strict) {
  int64_t C = G.size(-1);
  auto diff = G.unsqueeze(-1) - G.unsqueeze(-2);  // [..., t, s]
  auto keep = torch::ones({C, C}, G.options().dtype(torch::kBool)).tril(strict ? -1 : 0);
  return diff.masked_fill(keep.logical_not(), -INFINITY).exp();
}

}  // namespace

RecurrenceOutput gdn_chunked(const torch::Tensor& q, const torch::Tensor& k,
                             const torch::Tensor& v, const torch::Tensor& g,
                             const torch::Tensor& beta, const torch::Tensor& initial_state,
                             double scale, int64_t chunk) {
  recurrence_check_inputs("gdn_chunked", q, k, v, g, beta, initial_state);
  ORYX_CHECK(chunk > 0, "gdn_chunked: chunk must be positive, got ", chunk);
  torch::Tensor S = recurrence_initial_state(initial_state, v, q.size(3));
  auto dt = S.scalar_type();
  int64_t T = q.size(1);
  if (T == 0) return {torch::zeros_like(v), S};

  // Stage 1: chunk the inputs, [B,H,N,C,...], and the cumulative log decay inside chunks.
  auto Q = recurrence_to_chunks(q.to(dt), chunk);
  auto Kc = recurrence_to_chunks(k.to(dt), chunk);
  auto Vc = recurrence_to_chunks(v.to(dt), chunk);
  auto G = recurrence_to_chunks(g.to(dt), chunk).cumsum(-1);  // [B,H,N,C]
  auto b = recurrence_to_chunks(beta.to(dt), chunk).unsqueeze(-1);  // [B,H,N,C,1]
  int64_t C = chunk;

  // Stage 2: the UT transform, W and U for every chunk.
  auto A = torch::matmul(b * Kc, Kc.transpose(-1, -2)) * decay_matrix(G, /*strict=*/true);
  auto I = torch::eye(C, A.options());
  auto W = torch::linalg_solve_triangular(I + A, b * G.exp().unsqueeze(-1) * Kc,
                                          /*upper=*/false, /*left=*/true, /*unitriangular=*/true);
  auto U = torch::linalg_solve_triangular(I + A, b * Vc, false, true, true);

  // Stage 3: intra-chunk attention-like scores and decay factors, for every chunk.
  auto P = torch::matmul(Q, Kc.transpose(-1, -2)) * decay_matrix(G, /*strict=*/false) * scale;
  auto Qg = Q * G.exp().unsqueeze(-1) * scale;                      // reads S0
  auto G_last = G.select(-1, C - 1);                                // [B,H,N]
  auto Kg = Kc * (G_last.unsqueeze(-1) - G).exp().unsqueeze(-1);    // writes S_C

  // Stage 4: pass the state from chunk to chunk.
  std::vector<torch::Tensor> outs;
  int64_t N = Q.size(2);
  for (int64_t n = 0; n < N; ++n) {
    auto E = U.select(2, n) - torch::matmul(W.select(2, n), S);
    outs.push_back(torch::matmul(Qg.select(2, n), S) + torch::matmul(P.select(2, n), E));
    S = S * G_last.select(2, n).exp().unsqueeze(-1).unsqueeze(-1) +
        torch::matmul(Kg.select(2, n).transpose(-1, -2), E);
  }
  auto o = recurrence_from_chunks(torch::stack(outs, 2), T);
  return {o.to(v.scalar_type()), S};
}

}  // namespace oryx
