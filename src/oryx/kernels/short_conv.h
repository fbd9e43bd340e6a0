// Launchers of the short-convolution kernels (short_conv.cu; no torch here, the tensor API is
// kernels/conv_ops.h). x, y, dy, dx are bf16 [B,T,C] contiguous; w is bf16 [C,W] (the
// weight rounded to the activations' dtype, as the reference's conv1d uses it); the backward
// writes dw_partial, fp32 [short_conv_backward_tiles(B, T), C, W]: each tile's part of dw,
// for the caller to sum over tiles.
#pragma once
#include <cuda_runtime_api.h>

#include "oryx/kernels/linear_params.h"

namespace oryx::kernels {

struct ShortConvParams {
  int B = 0, T = 0, C = 0, W = 0;
  bool silu = false;              // output SiLU(y) (the backward takes SiLU's derivative)
  const bf16_bits* x = nullptr;
  const bf16_bits* w = nullptr;
  bf16_bits* y = nullptr;         // forward output
  const bf16_bits* dy = nullptr;  // backward input
  bf16_bits* dx = nullptr;        // backward outputs
  float* dw_partial = nullptr;
};

// The decoding step: one token per sequence. y[b,c] = sum_j w[c,j] window[b,j,c] over the
// window [state (W-1 inputs, oldest first), x]; then the state shifts in place (x appended).
// x, y bf16 [B,C]; state bf16 [B,W-1,C]; all contiguous. One thread per (sequence, channel).
struct ShortConvStepParams {
  int B = 0, C = 0, W = 0;
  bool silu = false;
  const bf16_bits* x = nullptr;
  const bf16_bits* w = nullptr;
  bf16_bits* state = nullptr;
  bf16_bits* y = nullptr;
};

// Widths with a compiled kernel (2 to 4 taps).
bool short_conv_width_supported(int W);

// The tiles of a backward (the first dimension of dw_partial).
int short_conv_backward_tiles(int B, int T);

void short_conv_forward(const ShortConvParams& p, cudaStream_t stream);
void short_conv_backward(const ShortConvParams& p, cudaStream_t stream);
void short_conv_step(const ShortConvStepParams& p, cudaStream_t stream);

}  // namespace oryx::kernels
