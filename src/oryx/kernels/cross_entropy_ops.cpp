// Torch-facing glue of the cross-entropy kernels: checks and the params fill.
#include "oryx/kernels/cross_entropy_ops.h"

#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>

#include <limits>

#include "oryx/common/error.h"
#include "oryx/kernels/cross_entropy.h"
#include "oryx/kernels/ops_common.h"

namespace oryx {

namespace {

namespace K = kernels;

K::CrossEntropyParams params_of(const torch::Tensor& logits, const torch::Tensor& targets, const torch::Tensor& lse) {
  TORCH_INTERNAL_ASSERT(targets.is_contiguous() && targets.scalar_type() == torch::kLong &&
                        targets.size(0) == logits.size(0));
  TORCH_INTERNAL_ASSERT(lse.is_contiguous() && lse.scalar_type() == torch::kFloat32);
  K::CrossEntropyParams p;
  p.N = logits.size(0);
  p.V = static_cast<int>(logits.size(1));
  p.targets = targets.data_ptr<int64_t>();
  return p;
}

}  // namespace

bool kernels_cross_entropy_supported(const torch::Tensor& logits) {
  return logits.is_cuda() && logits.scalar_type() == torch::kBFloat16 && logits.dim() == 2 &&
         logits.is_contiguous() && logits.size(1) > 0 && logits.size(1) < std::numeric_limits<int>::max() &&
         K::is_hopper(logits);
}

void kernels_cross_entropy_forward(const torch::Tensor& logits, const torch::Tensor& targets, torch::Tensor& lse,
                                   torch::Tensor& target_logit) {
  c10::cuda::CUDAGuard guard(logits.device());
  auto p = params_of(logits, targets, lse);
  p.logits = K::bf16_ptr(logits);
  p.lse = lse.data_ptr<float>();
  p.target_logit = target_logit.data_ptr<float>();
  K::cross_entropy_forward(p, at::cuda::getCurrentCUDAStream());
  K::check_launch("cross_entropy forward");
}

void kernels_cross_entropy_backward_(torch::Tensor& logits, const torch::Tensor& targets, const torch::Tensor& lse,
                                     const torch::Tensor& scale) {
  c10::cuda::CUDAGuard guard(logits.device());
  auto p = params_of(logits, targets, lse);
  p.logits_mut = K::bf16_mut_ptr(logits);
  p.lse = const_cast<float*>(lse.data_ptr<float>());
  p.scale = scale.data_ptr<float>();
  K::cross_entropy_backward(p, at::cuda::getCurrentCUDAStream());
  K::check_launch("cross_entropy backward");
}

}  // namespace oryx
