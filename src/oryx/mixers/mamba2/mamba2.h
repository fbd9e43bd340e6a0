// Mamba-2's state-space duality (SSD) recurrence (Dao and Gu 2024), SPEC section 1, mode L
// of the Mamba-2 variant, with one B/C per head as a shared-K layer needs. In the shared
// signature of mixers/recurrence.h, k is B, q is C, v is X, beta is dt and g = -exp(A_log) dt:
//
//   S_t = exp(g_t) S_{t-1} + beta_t k_t v_t^T,   o_t = scale q_t^T S_t
//
// The D skip (o_t += D v_t) belongs to the layer. Three forms with one signature:
//   ssd_naive    the reference per-token loop, in the state dtype
//   ssd_chunked  the chunked (quadratic within a chunk, linear across chunks) form
//   ssd_step     one token, for decoding
#pragma once
#include "oryx/mixers/recurrence.h"

namespace oryx {

RecurrenceOutput ssd_naive(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                           const torch::Tensor& g, const torch::Tensor& beta,
                           const torch::Tensor& initial_state, double scale);

RecurrenceOutput ssd_chunked(const torch::Tensor& q, const torch::Tensor& k,
                             const torch::Tensor& v, const torch::Tensor& g,
                             const torch::Tensor& beta, const torch::Tensor& initial_state,
                             double scale, int64_t chunk);

// One token: q, k [B,H,K], v [B,H,V], g, beta [B,H], state [B,H,K,V] (required).
RecurrenceOutput ssd_step(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                          const torch::Tensor& g, const torch::Tensor& beta,
                          const torch::Tensor& state, double scale);

}  // namespace oryx
