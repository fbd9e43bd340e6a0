// Parameter counts of a config, by arithmetic on its shapes: `oryx info`, study reports and
// config validation count a model without allocating it (a 350M model, or a config typo
// asking for a trillion parameters, costs nothing to count). The roles follow
// model/params.h: which parameters both modes use (the shared representation) and which
// only one mode uses (supporting parameters).
#pragma once
#include <cstdint>

#include "oryx/config/model_config.h"

namespace oryx {

struct ParamCounts {
  int64_t total = 0, shared = 0, attention_only = 0, linear_only = 0;
  double shared_fraction() const { return total ? static_cast<double>(shared) / total : 0.0; }
  int64_t used_by_attention() const { return shared + attention_only; }
  int64_t used_by_linear() const { return shared + linear_only; }
};

// Exactly what model_create(c) allocates (tests/config checks this for every shipped
// config). Needs sizes within config_from_json's bounds, under which nothing overflows.
ParamCounts config_param_counts(const ModelConfig& c);

}  // namespace oryx
