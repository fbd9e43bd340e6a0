// The tensor API of the GatedRMSNorm kernels (ORYX_CUDA=ON), called by gated_rms_norm
// (layer/ops.h) for bf16 CUDA tensors; the formula there is the reference.
#pragma once
#include <torch/types.h>

namespace oryx {

// True for bf16 CUDA o and gate of the same shape [..., V] (V 64 or 128) on a Hopper GPU.
bool kernels_gated_norm_supported(const torch::Tensor& o, const torch::Tensor& gate, const torch::Tensor& weight);

// rms_norm(o, weight, eps) * silu(gate) in o's dtype, differentiable in o, gate and weight.
torch::Tensor kernels_gated_norm(const torch::Tensor& o, const torch::Tensor& gate, const torch::Tensor& weight,
                                 double eps);

}  // namespace oryx
