// Batched generation: prompts of different lengths, each with its own schedule, budget, stop
// strings and seed, decoded together. Every sequence gets exactly the tokens generate() gives
// that prompt alone (same schedule and options): the batch only shares the forward passes.
//
//   prefill   each prompt alone (B = 1, the chunked forms) into its row of one batch cache
//             (ModelCache::row), its positions in its schedule's prompt modes; its first
//             token is sampled from its last position
//   decode    one forward of T = 1 for the whole batch, each sequence at its own position
//             (the cache's per-sequence lengths) in its own generated-token mode ([B,1] mask)
//   stop      a sequence ends at the tokenizer's end-of-document id, at a stop string, or
//             after max_new tokens; it is then retired (no longer recorded, its cache row
//             frozen) while the others go on; the batch ends when all have ended
//
// Sampling draws from one std::mt19937_64 per sequence, seeded with the request's seed, as
// generate() does for a single prompt.
#pragma once
#include <string>
#include <vector>

#include "oryx/data/tokenizer.h"
#include "oryx/generate/sampler.h"
#include "oryx/generate/stop.h"
#include "oryx/model/model.h"
#include "oryx/schedule/schedule.h"

namespace oryx {

struct GenerateRequest {
  std::vector<int64_t> prompt;     // >= 1 ids in [0, vocab_size)
  Schedule schedule;
  int64_t max_new = 32;
  std::vector<std::string> stop;   // stop strings (need a tokenizer)
  uint64_t seed = 0;               // this sequence's sampling seed
};

struct GeneratedSequence {
  std::vector<int64_t> tokens;     // generated ids, the one that ended it included
  std::string text;                // decoded and cut before the stop string ("" without a tokenizer)
  std::vector<bool> modes;         // mode of every fed position (prompt, then fed-back tokens)
  StopReason stop = StopReason::MaxNew;
};

struct BatchGenerateOptions {
  SamplingOptions sampling;             // its seed is unused: each request carries one
  // Ids >= this are never sampled (a tokenizer smaller than the model's vocabulary); 0 = no limit.
  int64_t vocab_limit = 0;
  const Tokenizer* tokenizer = nullptr;  // decodes text; its end-of-document id ends a sequence
};

// Generates for all `requests` in one batch; results in the same order.
std::vector<GeneratedSequence> generate_batch(OryxModel& model, const std::vector<GenerateRequest>& requests,
                                              const BatchGenerateOptions& opts);

// The cache capacity a request needs: its fed positions (prompt, then max_new - 1 tokens).
int64_t generate_positions_needed(int64_t prompt_len, int64_t max_new);

}  // namespace oryx
