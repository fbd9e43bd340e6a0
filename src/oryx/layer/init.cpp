#include "oryx/layer/init.h"

#include <cmath>

namespace oryx {

namespace {
thread_local bool t_skip_init = false;
}  // namespace

SkipInit::SkipInit() : previous_(t_skip_init) { t_skip_init = true; }
SkipInit::~SkipInit() { t_skip_init = previous_; }

torch::Tensor init_linear(int64_t out, int64_t in, double std) {
  if (t_skip_init) return torch::empty({out, in});
  return torch::randn({out, in}) * std;
}

torch::Tensor init_normal(c10::IntArrayRef shape, double std) {
  if (t_skip_init) return torch::empty(shape);
  return torch::randn(shape) * std;
}

torch::Tensor init_a_log(int64_t heads, double lo, double hi) {
  if (t_skip_init) return torch::empty({heads});
  return torch::log((torch::rand({heads}) * (hi - lo) + lo).clamp_min(1e-4));
}

torch::Tensor init_conv(int64_t channels, int64_t width) {
  if (t_skip_init) return torch::empty({channels, width});
  double bound = 1.0 / std::sqrt(static_cast<double>(width));
  return torch::rand({channels, width}) * (2 * bound) - bound;
}

torch::Tensor init_dt_bias(int64_t heads, double dt_min, double dt_max) {
  if (t_skip_init) return torch::empty({heads});
  auto dt = torch::exp(torch::rand({heads}) * (std::log(dt_max) - std::log(dt_min)) + std::log(dt_min));
  dt = dt.clamp_min(1e-4);
  return dt + torch::log(-torch::expm1(-dt));  // inverse of softplus
}

}  // namespace oryx
