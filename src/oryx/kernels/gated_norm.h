// Launchers of the GatedRMSNorm kernels (gated_norm.cu; the tensor API is
// kernels/gated_norm_ops.h). o, gate, y, dy, dout, dgate are bf16 [rows, V] contiguous and
// V/16-byte aligned; w fp32 [V]; dw an fp32 [V] accumulator the backward adds into (zero it
// first).
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>

#include "oryx/kernels/linear_params.h"

namespace oryx::kernels {

struct GatedNormParams {
  int64_t rows = 0;
  int V = 0;
  float eps = 1e-6f;
  const bf16_bits* o = nullptr;
  const bf16_bits* gate = nullptr;
  const float* w = nullptr;
  bf16_bits* y = nullptr;         // forward output
  const bf16_bits* dy = nullptr;  // backward input
  bf16_bits* dout = nullptr;      // backward outputs
  bf16_bits* dgate = nullptr;
  float* dw = nullptr;
};

// Head dims with a compiled kernel (64 and 128).
bool gated_norm_dim_supported(int V);

void gated_norm_forward(const GatedNormParams& p, cudaStream_t stream);
void gated_norm_backward(const GatedNormParams& p, cudaStream_t stream);

}  // namespace oryx::kernels
