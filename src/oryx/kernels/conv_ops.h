// The tensor API of the short-convolution kernels (kernels/short_conv.cu), built with
// ORYX_CUDA=ON. layer/ops.cpp calls it for the layer's causal depthwise convolutions when
// no carried state is involved (training, and prefill without a cache); the reference is
// short_conv in layer/ops.h.
#pragma once
#include <torch/types.h>

namespace oryx {

// True when the kernels take x [B,T,C] and weight [C,W]: bf16 CUDA x, W in 2..4, a Hopper GPU.
bool kernels_short_conv_supported(const torch::Tensor& x, const torch::Tensor& weight);

// y [B,T,C] (SiLU(y) with `silu`) in x's dtype, differentiable in x and weight (through the
// backward kernel).
torch::Tensor kernels_short_conv(const torch::Tensor& x, const torch::Tensor& weight, bool silu);

// The decoding step with a carried window: x [B,1,C] bf16, state [B,W-1,C] bf16 contiguous
// (updated in place), as short_conv_step + SiLU (with `silu`) compute it. True when it applies.
bool kernels_short_conv_step_supported(const torch::Tensor& x, const torch::Tensor& weight,
                                       const torch::Tensor& state);
torch::Tensor kernels_short_conv_step(const torch::Tensor& x, const torch::Tensor& weight, torch::Tensor& state,
                                      bool silu);

}  // namespace oryx
