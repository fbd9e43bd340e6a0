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
#include <functional>

#include "oryx/mixers/recurrence.h"

namespace oryx {

RecurrenceOutput ssd_naive(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                           const torch::Tensor& g, const torch::Tensor& beta,
                           const torch::Tensor& initial_state, double scale);

RecurrenceOutput ssd_chunked(const torch::Tensor& q, const torch::Tensor& k,
                             const torch::Tensor& v, const torch::Tensor& g,
                             const torch::Tensor& beta, const torch::Tensor& initial_state,
                             double scale, int64_t chunk);

// A chunked SSD forward with ssd_chunked's arguments but the scale and chunk (bound by the
// caller): ssd_chunked itself, or the kernels.
using SsdSegmentForward = std::function<RecurrenceOutput(
    const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, const torch::Tensor& g,
    const torch::Tensor& beta, const torch::Tensor& initial_state)>;

// The same recurrence with the sequence cut into segments of `segment_len` tokens that
// `forward` runs side by side from zero states, then joined (mamba2/segmented.cpp): for long
// sequences with few heads, whose chunked state pass is otherwise one sequential walk.
// Equals ssd_chunked up to rounding (it regroups the same sums), gradients included.
RecurrenceOutput ssd_segmented(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                               const torch::Tensor& g, const torch::Tensor& beta,
                               const torch::Tensor& initial_state, double scale, int64_t segment_len,
                               const SsdSegmentForward& forward);

// The segment length (tokens) for the SSD kernels on a GPU with `sms` multiprocessors, or 0
// for none. Their state pass runs B x H x V/64 blocks (64-column value tiles; 32-column ones,
// twice the blocks, below one block a multiprocessor), each walking its sequence's chunks in
// order: with fewer than one block a multiprocessor even so, most of the GPU idles through
// the whole walk (one sequence of 32K tokens with 16 heads). Segments multiply the blocks, up
// to two 64-column ones a multiprocessor; each keeps at least 8 chunks of 64, so that joining
// them (a product over q, the outputs' update) stays small beside what the shorter walk saves.
int64_t ssd_segment_len_for(int64_t B, int64_t T, int64_t H, int64_t V, int64_t sms);

// One token: q, k [B,H,K], v [B,H,V], g, beta [B,H], state [B,H,K,V] (required).
RecurrenceOutput ssd_step(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                          const torch::Tensor& g, const torch::Tensor& beta,
                          const torch::Tensor& state, double scale);

}  // namespace oryx
