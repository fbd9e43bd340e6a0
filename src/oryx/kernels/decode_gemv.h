// A matrix-vector product for decoding a few sequences (decode_gemv.cu; the tensor API is
// kernels/decode_layer_ops.h): y = x W^T for x [B, D] with B at most 4, W [N, D] bf16, the
// weights read once at close to the memory's bandwidth. cuBLAS serves the same product in one
// kernel too, but the neighbours around it are kernels of their own; here they are folded in:
//   prologue  the residual add and RMSNorm of the next layer part, as kernels/decode_layer.h's
//             decode_add_norm computes them: s = bf16(h + delta), x = bf16(RMSNorm(s) norm_w)
//             (every block computes it for itself; block 0 also writes s, the new stream);
//   epilogue  bf16 output, or SwiGLU of interleaved row pairs (gate m and up m in rows 2m and
//             2m + 1: each rounded to bf16, then silu(gate) * up), or fp32 logits of the
//             bf16-rounded products (the LM head: the step path casts its bf16 output).
// One warp per output row (two for SwiGLU pairs and wide products); each lane loads its
// 16-byte pieces of the rows before the prologue runs, so the weights stream while the norm is
// computed.
#pragma once
#include <cuda_runtime_api.h>

#include "oryx/kernels/linear_params.h"

namespace oryx::kernels {

enum class GemvOut : int { Bf16 = 0, SwigluPairs = 1, LogitsF32 = 2 };

struct DecodeGemvParams {
  int B = 0, N = 0, D = 0;
  const bf16_bits* w = nullptr;  // [N, D]
  const bf16_bits* x = nullptr;  // [B, D] the input, without the prologue
  // The prologue (norm_w set): h [B, D], delta [B, D] or nullptr, gain [D] fp32.
  const bf16_bits* h = nullptr;
  const bf16_bits* delta = nullptr;
  const float* norm_w = nullptr;
  float eps = 0.f;
  bf16_bits* sum = nullptr;  // [B, D] h + delta (written when delta is given)
  GemvOut out = GemvOut::Bf16;
  void* y = nullptr;  // [B, N] bf16, [B, N/2] bf16 (SwigluPairs) or [B, N] fp32 (LogitsF32)
};

// Whether a kernel is compiled for B sequences of D inputs: B in [1, 4], D a multiple of 8,
// at most 4096.
bool decode_gemv_supported(int B, int D);

void decode_gemv(const DecodeGemvParams& p, cudaStream_t stream);

}  // namespace oryx::kernels
