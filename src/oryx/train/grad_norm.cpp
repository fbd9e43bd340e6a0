#include "oryx/train/grad_norm.h"

namespace oryx {

torch::Tensor grad_norm_clip_(const std::vector<torch::Tensor>& params, double max_norm) {
  std::vector<torch::Tensor> grads;
  for (const auto& p : params)
    if (p.grad().defined()) grads.push_back(p.grad());
  if (grads.empty()) return torch::zeros({});
  torch::NoGradGuard no_grad;
  // The multi-tensor kernels: a few launches for all the gradients, where one norm and one
  // product per tensor took hundreds a step.
  auto norms = at::_foreach_norm(grads, 2);
  torch::Tensor total = norms.size() == 1 ? norms[0] : torch::stack(norms).norm(2);
  if (max_norm > 0) {
    auto scale = torch::clamp(max_norm / (total + 1e-6), std::nullopt, 1.0);
    at::_foreach_mul_(grads, scale);
  }
  return total;
}

}  // namespace oryx
