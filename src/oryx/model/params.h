// Parameter accounting for `oryx info` (SPEC section 1): which parameters both modes use
// (the shared representation) and which only one mode uses (supporting parameters).
#pragma once
#include <torch/torch.h>

#include <string>

namespace oryx {

enum class ParamRole { Shared, AttentionOnly, LinearOnly };

// By module path: parameters under a layer's `attn` are attention-only, under `lin`
// linear-only, everything else (embeddings, norms, k/v, gate, output, MLP) shared.
ParamRole param_role(const std::string& name);

struct ParamCounts {
  int64_t total = 0, shared = 0, attention_only = 0, linear_only = 0;
  double shared_fraction() const { return total ? static_cast<double>(shared) / total : 0.0; }
  int64_t used_by_attention() const { return shared + attention_only; }
  int64_t used_by_linear() const { return shared + linear_only; }
};

ParamCounts param_counts(const torch::nn::Module& model);

}  // namespace oryx
