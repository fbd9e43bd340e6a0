// The tensor API of the SwiGLU kernels (ORYX_CUDA=ON), called by swiglu (layer/ops.h) for
// bf16 CUDA tensors; swiglu_reference there is the formula they replace.
#pragma once
#include <torch/types.h>

namespace oryx {

// True for bf16 CUDA gate and up of one shape on a Hopper GPU.
bool kernels_swiglu_supported(const torch::Tensor& gate, const torch::Tensor& up);

// silu(gate) * up in bf16, differentiable in gate and up.
torch::Tensor kernels_swiglu(const torch::Tensor& gate, const torch::Tensor& up);

}  // namespace oryx
