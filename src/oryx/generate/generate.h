// Generation with any mode schedule: prefill the prompt with the chunked forms (each prompt
// position in the mode the schedule gives it), then decode one token at a time with the step
// forms, each generated token in the mode of the schedule's generation policy. Every token
// writes both the KV cache and the recurrent state, so modes can change at any position.
#pragma once
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "oryx/generate/sampler.h"
#include "oryx/model/model.h"
#include "oryx/schedule/schedule.h"

namespace oryx {

struct GenerateOptions {
  int64_t max_new = 32;
  SamplingOptions sampling;
  std::optional<int64_t> stop_token;  // stop a sequence once it emits this id
  // Called with a sequence's generated ids after each new one; true ends it (stop strings).
  std::function<bool(const std::vector<int64_t>& generated)> stop_when;
  // Ids >= this are never sampled (a tokenizer smaller than the padded model vocabulary
  // cannot decode them); 0 = no limit.
  int64_t vocab_limit = 0;
  // Greedy decoding on CUDA replays each step from a CUDA graph (generate/decode_graph.h);
  // false (or ORYX_FORCE_REFERENCE=1) decodes eagerly, op by op.
  bool cuda_graphs = true;
  // The captured step is the fused one (generate/fused_decode.h) where it serves the model;
  // false keeps Model::decode_step (for A/B checks; so does ORYX_FUSED_DECODE=0).
  bool fused_decode = true;
};

struct GenerateResult {
  std::vector<std::vector<int64_t>> tokens;  // per sequence, the generated ids
  std::vector<bool> modes;                   // mode of every fed position (prompt, generated)
  int64_t prompt_tokens = 0;
  double prefill_ms = 0, decode_ms = 0;
  // From the call to the first generated id on the host: the prefill, the first pick (0 when
  // max_new is 0).
  double first_token_ms = 0;
  int64_t decode_steps = 0;
  // Of those, the steps that set up a CUDA decode graph (a mode's eager warm-up and its
  // capture, at most two per mode) and their time with the graphs' construction (the fused
  // step's packed weights): decode_ms includes them; the steps after are graph replays.
  int64_t decode_setup_steps = 0;
  double decode_setup_ms = 0;
  double attention_fraction = 0;             // over the fed positions
  int64_t cache_bytes = 0;                   // ModelCache::bytes() of the cache it filled
  // How decoding ran: "fused graph", "graph, step path (why not fused)", or "eager".
  std::string decode_path = "eager";
};

// prompts [B,P] int64 (one prompt length for the batch, P >= 1).
GenerateResult generate(OryxModel& model, const torch::Tensor& prompts, const Schedule& schedule,
                        const GenerateOptions& opts);

}  // namespace oryx
