// Parameter initialisation shared by the layer's modules. Drawn from torch's global
// generator, which the model seeds, so a config and a seed give the same weights.
#pragma once
#include <torch/types.h>

namespace oryx {

// A linear weight [out, in] ~ N(0, std^2).
torch::Tensor init_linear(int64_t out, int64_t in, double std);

// A depthwise short-convolution weight [channels, width] ~ U(-1/sqrt(width), 1/sqrt(width)),
// torch's default for Conv1d (fan-in = width for a depthwise kernel).
torch::Tensor init_conv(int64_t channels, int64_t width);

// dt_bias such that softplus(dt_bias) = dt with dt log-uniform in [dt_min, dt_max]
// (the Mamba-2 / GDN initialisation of the time step), one per head.
torch::Tensor init_dt_bias(int64_t heads, double dt_min = 1e-3, double dt_max = 1e-1);

// A_log = log(A), A ~ U(lo, hi) clamped to at least 1e-4 (so that the log stays finite).
torch::Tensor init_a_log(int64_t heads, double lo, double hi);

// A tensor ~ N(0, std^2) (the embedding table).
torch::Tensor init_normal(c10::IntArrayRef shape, double std);

// While alive (on this thread), every init_* returns an uninitialised tensor of its shape and
// draws nothing: for a model whose every weight is loaded from a file next (model_load),
// whose random draws would be thrown away (2 s of a cold start for a 350M model on the CPU).
class SkipInit {
 public:
  SkipInit();
  ~SkipInit();
  SkipInit(const SkipInit&) = delete;
  SkipInit& operator=(const SkipInit&) = delete;

 private:
  bool previous_;
};

}  // namespace oryx
