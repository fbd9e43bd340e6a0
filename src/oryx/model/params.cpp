#include "oryx/model/params.h"

namespace oryx {

ParamRole param_role(const std::string& name) {
  auto has = [&](const char* part) {
    return name.rfind(std::string(part) + ".", 0) == 0 || name.find(std::string(".") + part + ".") != std::string::npos;
  };
  if (has("attn")) return ParamRole::AttentionOnly;
  if (has("lin")) return ParamRole::LinearOnly;
  return ParamRole::Shared;
}

ParamCounts param_counts(const torch::nn::Module& model) {
  ParamCounts c;
  for (const auto& p : model.named_parameters()) {
    int64_t n = p.value().numel();
    c.total += n;
    switch (param_role(p.key())) {
      case ParamRole::Shared: c.shared += n; break;
      case ParamRole::AttentionOnly: c.attention_only += n; break;
      case ParamRole::LinearOnly: c.linear_only += n; break;
    }
  }
  return c;
}

}  // namespace oryx
