// Greedy decoding on CUDA with each step captured once as a CUDA graph and replayed: the
// whole step of the whole model (embedding, every layer's projections, convolution and
// recurrence steps, the KV append and the attention read, the LM head, the finite check and
// the greedy pick) is one graph launch with no host synchronisation inside, instead of a few
// thousand kernel launches from the host. Model::decode_step is the captured body; the
// cache's buffers are allocated once at capacity and written in place, the lengths live on
// the device.
//
// The captured step is FusedDecode's (generate/fused_decode.h) where it serves the model and
// cache and `fused` is asked for, else Model::decode_step.
//
// One graph per mode of the step (all sequences in mode A, or all in mode L): the first
// step in a mode runs eagerly (it warms cuBLAS and the allocator on the graph's stream),
// the second is captured and replayed, every later one replayed.
//
// Built with the CUDA kernels (ORYX_CUDA=ON) only.
#pragma once
#ifdef ORYX_WITH_CUDA_KERNELS
#include <ATen/cuda/CUDAEvent.h>
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAStream.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "oryx/cache/cache.h"
#include "oryx/generate/fused_decode.h"
#include "oryx/layer/modes.h"
#include "oryx/model/model.h"

namespace oryx {

class DecodeGraph {
 public:
  // model and cache on one CUDA device; ids >= vocab_limit are never picked (0 = no limit).
  DecodeGraph(OryxModel model, ModelCache& cache, int64_t vocab_limit, bool fused = true);

  struct Picks {
    std::vector<int64_t> next;  // the greedy next id of each sequence
    bool finite = true;         // every logit of the step was finite
    bool replayed = false;      // false for a mode's first two steps (eager warm-up, capture)
  };
  // Feeds `tokens` (B ids, one per sequence) with every sequence in mode A (mode_a) or L,
  // advances the cache by one token and returns the next ids.
  Picks step(const std::vector<int64_t>& tokens, bool mode_a);

  // Whether this machine and build can capture (CUDA device); false keeps callers eager.
  static bool available(const torch::Device& device);

  // How the steps decode, as GenerateResult::decode_path says it: "fused graph", or
  // "graph, step path (" + why the fused step does not serve + ")".
  const std::string& path() const { return path_; }

 private:
  struct ModeGraph {
    TokenModes modes;  // device tensors the graph was captured with
    int steps = 0;
    std::unique_ptr<at::cuda::CUDAGraph> graph;
  };
  void body(const TokenModes& modes, bool mode_a);

  OryxModel model_;
  ModelCache& cache_;
  int64_t vocab_limit_;
  c10::cuda::CUDAStream stream_;
  torch::Tensor tokens_;    // [B,1] int64 on the device: the step's input
  torch::Tensor out_;       // [2B] int64 on the device: next ids, then each row's count of non-finite logits
  torch::Tensor out_host_;  // pinned host copy of out_
  torch::Tensor in_host_;   // pinned host staging of the input ids
  std::map<bool, ModeGraph> graphs_;
  std::optional<FusedDecode> fused_;
  std::string path_;
};

}  // namespace oryx

#endif  // ORYX_WITH_CUDA_KERNELS
