// The global gradient norm of a step, and clipping by it, without reading anything back to
// the host: torch's clip_grad_norm_ returns a double, a device synchronisation of its own.
// The trainer reads this norm together with the step's loss, in the one read of the step,
// and stops a diverged run before its update (train/trainer.h).
#pragma once
#include <torch/torch.h>

#include <vector>

namespace oryx {

// The L2 norm over the gradients of `params` (those that have one), as a 0-d tensor on their
// device; with max_norm > 0 the gradients are scaled by min(1, max_norm / (norm + 1e-6)),
// the same arithmetic as torch::nn::utils::clip_grad_norm_.
torch::Tensor grad_norm_clip_(const std::vector<torch::Tensor>& params, double max_norm);

}  // namespace oryx
