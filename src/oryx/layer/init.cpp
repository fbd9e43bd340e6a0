#include "oryx/layer/init.h"

#include <cmath>

namespace oryx {

torch::Tensor init_linear(int64_t out, int64_t in, double std) {
  return torch::randn({out, in}) * std;
}

torch::Tensor init_conv(int64_t channels, int64_t width) {
  double bound = 1.0 / std::sqrt(static_cast<double>(width));
  return torch::rand({channels, width}) * (2 * bound) - bound;
}

torch::Tensor init_dt_bias(int64_t heads, double dt_min, double dt_max) {
  auto dt = torch::exp(torch::rand({heads}) * (std::log(dt_max) - std::log(dt_min)) + std::log(dt_min));
  dt = dt.clamp_min(1e-4);
  return dt + torch::log(-torch::expm1(-dt));  // inverse of softplus
}

}  // namespace oryx
