// Picking the next token from logits: temperature, top-k and top-p (nucleus) filtering,
// then a draw from a seeded std::mt19937_64 (on the host, so results do not depend on the
// device). Temperature 0 means greedy.
#pragma once
#include <torch/types.h>

#include <random>

namespace oryx {

struct SamplingOptions {
  double temperature = 1.0;  // 0 = greedy (argmax)
  int64_t top_k = 0;         // 0 = no limit
  double top_p = 1.0;        // 1 = no nucleus cut
  uint64_t seed = 0;
};

// Validates the options (throws oryx::Error naming the bad one).
void sampling_check(const SamplingOptions& o);

// logits [N] (any device, any float dtype) -> a token id. Logits holding NaN or +Inf, or
// all -Inf, are an oryx::Error.
int64_t sampling_pick(const torch::Tensor& logits, const SamplingOptions& o, std::mt19937_64& rng);

}  // namespace oryx
