// Finiteness checks for weights, optimizer states and training statistics. A NaN or an Inf
// that gets into a model does not fail loudly on its own: greedy decoding picks token 0
// forever and training carries on to a NaN checkpoint. These checks let loaders and the
// trainer refuse such tensors and name the first one.
#pragma once
#include <torch/types.h>

#include <string>
#include <utility>
#include <vector>

namespace oryx {

// The name of the first tensor of `tensors` holding a NaN or an Inf, or "" when all are
// finite (integer tensors always are). Costs one device-to-host read when all are finite.
std::string first_non_finite(const std::vector<std::pair<std::string, torch::Tensor>>& tensors);

}  // namespace oryx
