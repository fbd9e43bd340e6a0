// Parameter accounting for `oryx info` (SPEC section 1): which parameters both modes use
// (the shared representation) and which only one mode uses (supporting parameters).
#pragma once
#include <torch/torch.h>

#include <string>

#include "oryx/config/param_count.h"

namespace oryx {

enum class ParamRole { Shared, AttentionOnly, LinearOnly };

// By module path: parameters under a layer's `attn` are attention-only, under `lin`
// linear-only, everything else (embeddings, norms, k/v, gate, output, MLP) shared.
ParamRole param_role(const std::string& name);

// Counts an allocated model's parameters by role; config_param_counts (config/param_count.h)
// gives the same numbers from the config alone.
ParamCounts param_counts(const torch::nn::Module& model);

}  // namespace oryx
