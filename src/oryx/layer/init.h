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

}  // namespace oryx
