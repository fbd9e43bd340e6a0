// Which mode each token of a forward call uses, with the facts every layer needs derived
// once per call (each needs a device-to-host sync).
#pragma once
#include <torch/types.h>

#include <optional>

#include "oryx/layer/attention_runs.h"

namespace oryx {

struct TokenModes {
  torch::Tensor is_attention;  // [B,T] bool on the model's device, true = mode A
  torch::Tensor a_positions;   // [Ta] int64 call-relative positions where some sequence is in
                               // mode A; undefined when that is every position
  bool any_a = false;
  bool any_l = false;
  AttentionRuns runs;          // defined when asked for and some, not all, tokens are in mode A

  // From a [B,T] (or [T], broadcast to the batch) bool mask; the facts are computed on the
  // host, the tensors placed on `device` (default: where the mask is). `with_runs` adds the
  // per-sequence runs (calls without a cache: training and scoring).
  static TokenModes from_mask(const torch::Tensor& mask, int64_t batch,
                              std::optional<torch::Device> device = std::nullopt,
                              bool with_runs = false);

  // Modes for any [batch, T] mask with tokens in both modes whose work does not depend on the
  // mask, so that one CUDA graph serves every batch of the training sampler: both mixers run
  // on every token, attention is dense over every sequence (the runs' dense plan), and
  // is_attention is a zeroed [batch, T] device buffer the caller fills before each use. The
  // layers' outputs then equal those under from_mask(mask, batch, device, true): a token's
  // attention output does not depend on which other tokens query, and the mask selects.
  static TokenModes for_any_mixed_mask(int64_t batch, int64_t T, torch::Device device);
};

// Which implementation of each mixer a forward uses.
//   Auto:  chunked forms for sequences, step forms for one-token calls on a cache (decoding)
//   Naive: the per-token reference loops everywhere (tests)
enum class MixerForm { Auto, Naive };

}  // namespace oryx
