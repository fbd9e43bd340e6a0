// The tensor API of the residual add + RMSNorm kernels (ORYX_CUDA=ON), called by
// add_rms_norm (layer/ops.h) under bf16 autocast; the formula there is the reference.
#pragma once
#include <torch/types.h>

namespace oryx {

// True for an fp32 CUDA h [..., D] (D a multiple of 64 up to 1024), delta undefined or a bf16
// tensor of h's shape, and an fp32 weight [D], on a Hopper GPU.
bool kernels_add_norm_supported(const torch::Tensor& h, const torch::Tensor& delta, const torch::Tensor& weight);

// {h + delta (fp32; h itself when delta is undefined), bf16(rms_norm(h + delta) * weight)},
// differentiable in h, delta and weight.
std::pair<torch::Tensor, torch::Tensor> kernels_add_norm(const torch::Tensor& h, const torch::Tensor& delta,
                                                         const torch::Tensor& weight, double eps);

}  // namespace oryx
