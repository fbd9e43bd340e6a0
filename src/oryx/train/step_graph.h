// One training step's forward, fused head + loss, backward and global-norm clipping,
// captured once as a CUDA graph and replayed. A 350m step is about 2,500 kernels; launched
// one by one from the host, the GPU waits on the host between them for 5 to 7 ms a step
// (docs/perf.md). Replayed, the step is one launch.
//
// A graph replays fixed work on fixed buffers, so it serves one case: a batch shape and a
// mode mask (a baseline's, or an Oryx model's fixed schedule), or, for an Oryx model whose
// masks change from step to step (the training sampler's), a batch shape and any mask with
// tokens in both modes: then both mixers run on every token and attention is dense over every
// sequence (TokenModes::for_any_mixed_mask), the mask being device data the step copies in.
// The first step of a case runs eagerly (it warms cuBLAS, cuDNN and the allocator), the
// second is captured and replayed, every later step of the same case replayed. A step of
// another case (the trainer's shorter last step, a sampler batch all in one mode) runs
// eagerly on the same gradient buffers. The parameters' gradients are then the graph's buffers: the caller must not drop
// them (AdamW::zero_grad) while owns_grads(); each step overwrites them.
//
// The graph computes what the eager step computes, kernel for kernel: the device test
// (tests/gpu) compares losses and weights over steps with and without it.
#pragma once
#include <torch/torch.h>

#include <memory>

#include "oryx/layer/modes.h"
#include "oryx/model/model.h"

#ifdef ORYX_WITH_CUDA_KERNELS
#include <ATen/cuda/CUDAEvent.h>
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace oryx {

class TrainStepGraph {
 public:
  // model on a CUDA device; bf16 autocast as the trainer runs it; clip the global gradient
  // norm at grad_clip (<= 0: no clipping).
  TrainStepGraph(OryxModel model, bool autocast, double grad_clip);
  ~TrainStepGraph();

  // Whether training on `device` captures its steps: a CUDA build and device, one process,
  // one micro-batch a step, no ORYX_FORCE_REFERENCE, and ORYX_TRAIN_GRAPHS not set to 0.
  static bool usable(torch::Device device, bool distributed, int64_t grad_accum);

  struct Out {
    torch::Tensor loss;       // device scalar, the mean loss over the targets
    torch::Tensor grad_norm;  // device scalar, the global norm before clipping
    bool replayed = false;
  };
  // One step on CPU int64 tokens and targets [B,T] and a CPU bool mask [B,T] (undefined for a
  // single-mode model). Token ids are checked here, on the CPU.
  Out step(const torch::Tensor& tokens, const torch::Tensor& targets, const torch::Tensor& modes);

  // Whether the parameters' gradients are the graph's buffers (see above).
  bool owns_grads() const;

 private:
  struct State;
  std::unique_ptr<State> s_;
};

}  // namespace oryx
