// Gradient averaging for data-parallel training: c10d's Reducer, the engine of PyTorch's
// DistributedDataParallel, driven from C++. Parameters are grouped into buckets (25 MB, the
// first 1 MB, in reverse registration order, which is roughly the order the backward pass
// finishes them), and each bucket's all-reduce starts as soon as its last gradient is
// accumulated, overlapping the rest of the backward pass. After the backward every rank holds
// the mean of the ranks' gradients.
//
// Use: for the last micro-batch of a step call prepare(loss) before loss.backward(); earlier
// micro-batches of the step skip it and accumulate locally (DDP's no_sync). A parameter no
// rank used this step (an Oryx model's attention-only weights when every token ran in mode
// L) keeps its gradient as a single process would leave it.
#pragma once
#include <torch/types.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "oryx/dist/world.h"

namespace c10d {
class Logger;
class Reducer;
}

namespace oryx {

class GradSync {
 public:
  // find_unused: parameters may go unused in a step (mixed-mode models); costs one walk of the
  // autograd graph per step.
  GradSync(const World& world, const std::vector<std::pair<std::string, torch::Tensor>>& params,
           bool find_unused);
  ~GradSync();

  // The next backward from `loss` all-reduces the gradients.
  void prepare(const torch::Tensor& loss);

 private:
  bool find_unused_;
  std::shared_ptr<c10d::Reducer> reducer_;
  std::shared_ptr<c10d::Logger> logger_;  // the Reducer reports through one (and needs it)
};

}  // namespace oryx
