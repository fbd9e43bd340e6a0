// Launchers of the residual add + RMSNorm kernels (add_norm.cu; the tensor API is
// kernels/add_norm_ops.h). Rows of D values, contiguous:
//   forward   sum = h + delta (fp32; skipped without delta), rstd = rsqrt(mean(sum^2) + eps),
//             x = bf16(sum * rstd * w)
//   backward  g = dx * w, n = sum * rstd,
//             dh = rstd (g - n mean(g n)) + dsum (fp32), ddelta = bf16(dh), dw += sum over rows of dx n
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>

#include "oryx/kernels/linear_params.h"

namespace oryx::kernels {

struct AddNormParams {
  int64_t rows = 0;
  int D = 0;
  float eps = 1e-6f;
  const float* h = nullptr;          // the residual stream [rows, D]
  const bf16_bits* delta = nullptr;  // a branch output to add first, or null
  const float* w = nullptr;          // gain [D]
  float* sum = nullptr;              // h + delta: written forward, read backward (null without delta)
  bf16_bits* x = nullptr;            // forward output
  float* rstd = nullptr;             // [rows]: written forward, read backward
  const bf16_bits* dx = nullptr;     // backward inputs: x's gradient and sum's (or null)
  const float* dsum = nullptr;
  float* dh = nullptr;               // backward outputs: h's gradient, delta's (or null)
  bf16_bits* ddelta = nullptr;
  float* dw = nullptr;               // fp32 [D] accumulator the backward adds into (zero it first)
};

// Widths with a compiled kernel: multiples of 64 up to 1024.
bool add_norm_dim_supported(int D);

void add_norm_forward(const AddNormParams& p, cudaStream_t stream);
void add_norm_backward(const AddNormParams& p, cudaStream_t stream);

}  // namespace oryx::kernels
