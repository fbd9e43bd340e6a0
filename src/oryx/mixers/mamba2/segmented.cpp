// SSD over a long sequence in segments computed side by side (issue 15): the chunked form's
// state pass walks one sequence's chunks one after another, so a long sequence with few
// heads keeps a few of the GPU's multiprocessors busy. Here every segment of `segment_len`
// tokens first runs from a zero state, all of them in one call of `forward` (as a batch of
// B x S sequences). SSD's transition is a scalar decay per token, so with D_j the total log
// decay of segment j and Z_j its end state from zero, the state entering segment s is
//
//   X_s = e^{D_0 + ... + D_{s-1}} S0 + sum_{j<s} e^{D_{j+1} + ... + D_{s-1}} Z_j,
//
// one small product over the segment axis, and each output gains what that state adds:
//
//   o_t += scale e^{G_t} q_t^T X_s     (G_t: the log decay from the segment's start to t).
//
// Regrouped sums of the same terms as the unsegmented recurrence, differentiable through
// `forward` and torch's ops. The correction's product runs in q's dtype (as the kernels'
// inter-chunk products round the state to bf16), the sums in the state dtype.
#include <algorithm>

#include "oryx/common/error.h"
#include "oryx/mixers/mamba2/mamba2.h"

namespace oryx {

namespace {

// [B,T,...] zero-padded along T to `padded` (the state passes padding tokens unchanged) and
// viewed as [B*S, padded/S, ...].
torch::Tensor to_segments(const torch::Tensor& x, int64_t padded, int64_t segments) {
  auto y = recurrence_pad_time(x, padded);
  auto shape = y.sizes().vec();
  shape[0] *= segments;
  shape[1] /= segments;
  return y.reshape(shape);
}

}  // namespace

int64_t ssd_segment_len_for(int64_t B, int64_t T, int64_t H, int64_t V, int64_t sms) {
  constexpr int64_t kChunk = 64, kMinChunksPerSegment = 8;
  const int64_t blocks = B * H * ((V + kChunk - 1) / kChunk);
  if (2 * blocks >= sms) return 0;  // the kernel's own 32-column tiles fill the GPU
  const int64_t chunks = (T + kChunk - 1) / kChunk;
  const int64_t segments = std::min((2 * sms + blocks - 1) / blocks, chunks / kMinChunksPerSegment);
  if (segments < 2) return 0;
  return (chunks + segments - 1) / segments * kChunk;
}

RecurrenceOutput ssd_segmented(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                               const torch::Tensor& g, const torch::Tensor& beta,
                               const torch::Tensor& initial_state, double scale, int64_t segment_len,
                               const SsdSegmentForward& forward) {
  recurrence_check_inputs("ssd_segmented", q, k, v, g, beta, initial_state);
  ORYX_CHECK(segment_len > 0, "ssd_segmented: segment_len must be positive, got ", segment_len);
  const int64_t B = q.size(0), T = q.size(1), H = q.size(2), K = q.size(3), V = v.size(3);
  const int64_t S = (T + segment_len - 1) / segment_len;
  if (S <= 1) return forward(q, k, v, g, beta, initial_state);
  const int64_t padded = S * segment_len;

  const auto qs = to_segments(q, padded, S), gs = to_segments(g, padded, S);
  auto local = forward(qs, to_segments(k, padded, S), to_segments(v, padded, S), gs, to_segments(beta, padded, S),
                       torch::Tensor());
  const auto st = local.state.scalar_type();
  auto Z = local.state.reshape({B, S, H, K, V});

  // G [B,S,L,H]: the log decay from each segment's start; D [B,S,H] each segment's total.
  auto G = gs.to(st).view({B, S, segment_len, H}).cumsum(2);
  auto D = G.select(2, segment_len - 1);
  auto through = D.cumsum(1);        // D_0 + ... + D_s
  auto before = through - D;         // D_0 + ... + D_{s-1}
  // W[b,h,s,j] = e^{D_{j+1} + ... + D_{s-1}} for j < s, else 0 (masked before the exponential,
  // where the difference could be positive).
  auto diff = before.permute({0, 2, 1}).unsqueeze(-1) - through.permute({0, 2, 1}).unsqueeze(-2);  // [B,H,S,S]
  auto later = torch::ones({S, S}, diff.options().dtype(torch::kBool)).tril(-1);
  auto W = diff.masked_fill(later.logical_not(), -INFINITY).exp();
  auto X = torch::einsum("bhsj,bjhkv->bshkv", {W, Z});  // [B,S,H,K,V]
  if (initial_state.defined())
    X = X + before.exp().unsqueeze(-1).unsqueeze(-1) * initial_state.to(st).unsqueeze(1);
  auto state = D.select(1, S - 1).exp().unsqueeze(-1).unsqueeze(-1) * X.select(1, S - 1) + Z.select(1, S - 1);

  // Each token's read of its segment's entering state: [B,S,H,L,K] x [B,S,H,K,V].
  auto q_heads = qs.view({B, S, segment_len, H, K}).transpose(2, 3);
  auto read = torch::matmul(q_heads, X.to(q.scalar_type())).transpose(2, 3);  // [B,S,L,H,V]
  auto o = local.o.reshape({B, S, segment_len, H, V}).to(st) + read.to(st) * (G.exp() * scale).unsqueeze(-1);
  o = o.reshape({B, padded, H, V}).narrow(1, 0, T);
  return {o.to(v.scalar_type()), state};
}

}  // namespace oryx
