// Gated DeltaNet (Yang et al., "Gated Delta Networks"), SPEC section 1, mode L of the GDN
// variant. With S [K,V] per head (see mixers/recurrence.h for shapes):
//
//   S_t = exp(g_t) (I - beta_t k_t k_t^T) S_{t-1} + beta_t k_t v_t^T,   o_t = scale q_t^T S_t
//
// Three forms with one signature; all must agree (tests/mixers/test_linear_forms.cpp):
//   gdn_naive    the reference: a per-token loop, computed in the state dtype
//   gdn_chunked  the WY / UT-transform chunked form used for training and prefill
//   gdn_step     one token, for decoding
#pragma once
#include "oryx/mixers/recurrence.h"

namespace oryx {

RecurrenceOutput gdn_naive(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                           const torch::Tensor& g, const torch::Tensor& beta,
                           const torch::Tensor& initial_state, double scale);

// `chunk` tokens per chunk; T need not be a multiple of it.
RecurrenceOutput gdn_chunked(const torch::Tensor& q, const torch::Tensor& k,
                             const torch::Tensor& v, const torch::Tensor& g,
                             const torch::Tensor& beta, const torch::Tensor& initial_state,
                             double scale, int64_t chunk);

// One token: q, k [B,H,K], v [B,H,V], g, beta [B,H], state [B,H,K,V] (required).
// Returns o [B,H,V] and the new state; `state` itself is not modified.
RecurrenceOutput gdn_step(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                          const torch::Tensor& g, const torch::Tensor& beta,
                          const torch::Tensor& state, double scale);

}  // namespace oryx
