// Plain parameter structs of the linear-mixer kernels (STYLE.md example 5): pointers, sizes
// and strides only, so that the CUDA translation units never include torch. Filled and
// checked by linear_ops.cpp. All tensors are contiguous; the layouts are
//   q, k  [B,T,H,K] bf16      v, o [B,T,H,V] bf16      g, beta [B,T,H] fp32
//   states [B,H,K,V] fp32 (K-major: o_t = scale q_t^T S_t, mixers/recurrence.h)
// and the per-chunk intermediates of the chunked form (C = 64 tokens per chunk, N chunks,
// Tp = N * C padded tokens) are laid out per head, [B,H,...]:
//   G  [B,H,Tp] fp32            cumulative log decay inside each chunk
//   F  [B,H,Tp,4] fp32          per-token factors (e^{G_t}, e^{G_C - G_t}, beta_t, beta_t e^{G_C - G_t}),
//                               G_C the chunk's last G; beta_t = 0 past T
//   P  [B,H,N,C,C] bf16         scale * (Q K^T o decay), causal (s <= t)
//   A  [B,H,N,C,C] bf16         GDN: (I + beta K K^T o decay, strictly lower)^-1
//   W  [B,H,Tp,K] bf16          GDN: A diag(beta e^G) K
//   U  [B,H,Tp,V] bf16          GDN: A diag(beta) V
//   E  [B,H,Tp,V] bf16          GDN: the corrected values U - W S0 of each chunk
//   h  [B,H,N,K,V] bf16         the state at each chunk's start
//   dE [B,H,Tp,V], dh [B,H,N,K,V] bf16: their gradients (dh: of each chunk's end state).
#pragma once
#include <cstdint>

namespace oryx::kernels {

enum class Mixer : int { Gdn = 0, Ssd = 1 };

constexpr int kChunk = 64;  // tokens per chunk; the kernels are written for 64

using bf16_bits = uint16_t;  // bf16 storage (the host side never does arithmetic on it)

struct ChunkParams {
  int B = 0, T = 0, H = 0, K = 0, V = 0;
  int N = 0;  // chunks, ceil(T / kChunk)
  float scale = 1.f;

  // Forward inputs and outputs.
  const bf16_bits* q = nullptr;
  const bf16_bits* k = nullptr;
  const bf16_bits* v = nullptr;
  const float* g = nullptr;
  const float* beta = nullptr;
  const float* h0 = nullptr;  // initial state or null (zeros)
  bf16_bits* o = nullptr;
  float* ht = nullptr;        // final state

  // Intermediates written by the forward (E and h only when `save` is set, for backward).
  float* G = nullptr;
  float* F = nullptr;
  bf16_bits* P = nullptr;
  bf16_bits* A = nullptr;
  bf16_bits* W = nullptr;
  bf16_bits* U = nullptr;
  bf16_bits* E = nullptr;
  bf16_bits* h = nullptr;
  bool save = false;

  // Backward: gradients of o and of the final state (null: zero), workspaces, results.
  const bf16_bits* dO = nullptr;
  const float* dht = nullptr;
  bf16_bits* dE = nullptr;
  bf16_bits* dh = nullptr;
  bf16_bits* dq = nullptr;
  bf16_bits* dk = nullptr;
  bf16_bits* dv = nullptr;
  float* dg = nullptr;
  float* dbeta = nullptr;
  float* dh0 = nullptr;  // gradient of the initial state (always written when non-null)
};

// One decoding token per sequence: q, k [B,H,K], v [B,H,V] bf16 or fp32 (`fp32_inputs`),
// g, beta [B,H] fp32, state_in/state_out [B,H,K,V] fp32 (may be the same buffer: in place),
// o [B,H,V] in the input dtype.
struct StepParams {
  int B = 0, H = 0, K = 0, V = 0;
  float scale = 1.f;
  bool fp32_inputs = false;
  const void* q = nullptr;
  const void* k = nullptr;
  const void* v = nullptr;
  const float* g = nullptr;
  const float* beta = nullptr;
  const float* state_in = nullptr;
  float* state_out = nullptr;
  void* o = nullptr;
};

}  // namespace oryx::kernels
