// The tensor API of the fused QK-norm + RoPE kernels (ORYX_CUDA=ON), called by the attention
// mixer for its q and k; the reference is rope_apply(rms_norm(x, w)) of layer/ops.h.
#pragma once
#include <torch/types.h>

namespace oryx {

// True when the kernels take x [B,T,H,K] (bf16 CUDA, K 64 or 128, on a Hopper GPU) with the
// gain `weight` [K] (undefined: RoPE alone) at `positions` [T] (undefined: the norm alone).
bool kernels_norm_rope_supported(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& positions);

// rope(rms_norm(x, weight, eps), positions, theta) in x's dtype, differentiable in x and weight.
torch::Tensor kernels_norm_rope(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& positions,
                                double theta, double eps);

}  // namespace oryx
