// Launchers of the SwiGLU kernels (swiglu.cu; the tensor API is kernels/swiglu_ops.h):
//   forward   y = silu(gate) * up
//   backward  dgate = dy * up * silu'(gate),  dup = dy * silu(gate)
// All bf16, contiguous, `n` elements each; arithmetic in fp32.
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>

#include "oryx/kernels/linear_params.h"

namespace oryx::kernels {

struct SwiGluParams {
  int64_t n = 0;
  const bf16_bits* gate = nullptr;
  const bf16_bits* up = nullptr;
  bf16_bits* y = nullptr;         // forward output
  const bf16_bits* dy = nullptr;  // backward input
  bf16_bits* dgate = nullptr;     // backward outputs
  bf16_bits* dup = nullptr;
};

void swiglu_forward(const SwiGluParams& p, cudaStream_t stream);
void swiglu_backward(const SwiGluParams& p, cudaStream_t stream);

}  // namespace oryx::kernels
