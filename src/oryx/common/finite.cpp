#include "oryx/common/finite.h"

namespace oryx {

std::string first_non_finite(const std::vector<std::pair<std::string, torch::Tensor>>& tensors) {
  // One reduction per tensor, read back once; only a failure pays for finding the culprit.
  std::vector<torch::Tensor> ok;
  for (const auto& [name, t] : tensors) {
    if (!t.is_floating_point() || t.numel() == 0) continue;
    auto flag = torch::isfinite(t.detach()).all();
    ok.push_back(ok.empty() ? flag : flag.to(ok.front().device()));
  }
  if (ok.empty() || torch::stack(ok).all().item<bool>()) return "";
  for (const auto& [name, t] : tensors)
    if (t.is_floating_point() && !torch::isfinite(t.detach()).all().item<bool>()) return name;
  return "";
}

}  // namespace oryx
