// Several linear maps of one input, x W_i^T for each weight W_i: the layer's k, v, gate (and
// shared q) projections of the normed stream, the MLP's gate and up. Separately, autograd
// sums the input's gradients with an add per extra consumer (a read of two [N, D] tensors
// and a write of one, in bf16: 80 adds a step of transformer-350m, 1.6 ms on an H200). Here
// the backward accumulates them in the matmuls themselves: dX = sum_i dY_i W_i as one mm and
// then addmm_ with beta = 1 (cuBLAS adds C in its epilogue, in fp32, with one rounding per
// product instead of one per add). Values: those of separate linears up to that rounding.
// Under CUDA autocast the products run in the autocast dtype, as autocast's linear would,
// and each weight's gradient comes back in its own dtype.
#pragma once
#include <torch/types.h>

#include <vector>

namespace oryx {

// [x W_1^T, x W_2^T, ...] for x [..., D] and weights [out_i, D]. ORYX_FORCE_REFERENCE=1
// takes linear_many_reference.
std::vector<torch::Tensor> linear_many(const torch::Tensor& x, const std::vector<torch::Tensor>& weights);
std::vector<torch::Tensor> linear_many_reference(const torch::Tensor& x, const std::vector<torch::Tensor>& weights);

}  // namespace oryx
