// The tensor API of the cross-entropy kernels (ORYX_CUDA=ON), used by the fused head loss
// (model/head_loss.cpp) on bf16 CUDA logits; its libtorch formulas are the reference.
#pragma once
#include <torch/types.h>

namespace oryx {

// True for contiguous bf16 [N,V] logits on a Hopper GPU.
bool kernels_cross_entropy_supported(const torch::Tensor& logits);

// lse[i] and logits[i, targets[i]] (fp32 [N] each) of logits [N,V]; targets int64 [N].
void kernels_cross_entropy_forward(const torch::Tensor& logits, const torch::Tensor& targets, torch::Tensor& lse,
                                   torch::Tensor& target_logit);

// Overwrites logits with (softmax - onehot(targets)) * scale[:, None], in bf16.
void kernels_cross_entropy_backward_(torch::Tensor& logits, const torch::Tensor& targets, const torch::Tensor& lse,
                                     const torch::Tensor& scale);

}  // namespace oryx
