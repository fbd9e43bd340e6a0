#include "support/tolerance.h"

namespace oryx::testing {

double max_rel_error(const torch::Tensor& a, const torch::Tensor& b) {
  auto af = a.detach().to(torch::kFloat64).cpu(), bf = b.detach().to(torch::kFloat64).cpu();
  TORCH_CHECK(af.sizes() == bf.sizes(), "max_rel_error: shapes differ ", af.sizes(), " vs ",
              bf.sizes());
  if (af.numel() == 0) return 0.0;
  double denom = std::max(bf.abs().max().item<double>(), 1e-30);
  double err = (af - bf).abs().max().item<double>();
  if (std::isnan(err)) return INFINITY;
  return err / denom;
}

void seed(uint64_t s) { torch::manual_seed(s); }

}  // namespace oryx::testing
