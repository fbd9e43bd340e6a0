// Launchers of the fused QK-norm + RoPE kernels (norm_rope.cu; the tensor API is
// kernels/norm_rope_ops.h). x, y, dy, dx are bf16 [B,T,H,K] contiguous (rows = B*T*H),
// K/16-byte aligned (each lane reads K/32 elements at once);
// positions int64 [T] or null (no RoPE: the norm alone); w fp32 [K] or null (no norm: RoPE
// alone); dw an fp32 [K]
// accumulator the backward adds into (zero it first).
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>

#include "oryx/kernels/linear_params.h"

namespace oryx::kernels {

struct NormRopeParams {
  int64_t rows = 0;
  int T = 0, H = 0, K = 0;
  float theta = 10000.f, eps = 1e-6f;
  const bf16_bits* x = nullptr;
  const float* w = nullptr;
  const int64_t* positions = nullptr;
  bf16_bits* y = nullptr;         // forward output
  const bf16_bits* dy = nullptr;  // backward input
  bf16_bits* dx = nullptr;        // backward outputs
  float* dw = nullptr;
};

// Head dims with a compiled kernel (64 and 128).
bool norm_rope_dim_supported(int K);

void norm_rope_forward(const NormRopeParams& p, cudaStream_t stream);
void norm_rope_backward(const NormRopeParams& p, cudaStream_t stream);

}  // namespace oryx::kernels
