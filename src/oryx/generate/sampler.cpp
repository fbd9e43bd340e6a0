#include "oryx/generate/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "oryx/common/error.h"

namespace oryx {

void sampling_check(const SamplingOptions& o) {
  ORYX_CHECK(o.temperature >= 0 && std::isfinite(o.temperature), "--temperature must be >= 0, got ",
             o.temperature);
  ORYX_CHECK(o.top_k >= 0, "--top-k must be >= 0, got ", o.top_k);
  ORYX_CHECK(o.top_p > 0 && o.top_p <= 1, "--top-p must be in (0, 1], got ", o.top_p);
}

int64_t sampling_pick(const torch::Tensor& logits, const SamplingOptions& o, std::mt19937_64& rng) {
  auto l = logits.detach().to(torch::kCPU, torch::kFloat64).contiguous();
  const double* x = l.data_ptr<double>();
  auto n = static_cast<size_t>(l.numel());
  // A NaN compares false with everything, so argmax and the sort would quietly pick an
  // arbitrary id (token 0, forever); -Inf is a masked id and fine while one id is finite.
  ORYX_CHECK(n > 0 && std::none_of(x, x + n, [](double v) { return std::isnan(v) || v == INFINITY; }) &&
                 std::any_of(x, x + n, [](double v) { return std::isfinite(v); }),
             "sampling: the logits hold NaN or Inf (or mask every token): nothing to pick from");
  if (o.temperature == 0) return static_cast<int64_t>(std::max_element(x, x + n) - x);

  // Candidates sorted by logit, cut by top-k, turned into probabilities, cut by top-p.
  std::vector<int64_t> idx(n);
  std::iota(idx.begin(), idx.end(), 0);
  size_t keep = o.top_k > 0 ? std::min(n, static_cast<size_t>(o.top_k)) : n;
  std::partial_sort(idx.begin(), idx.begin() + static_cast<std::ptrdiff_t>(keep), idx.end(),
                    [&](int64_t a, int64_t b) { return x[a] > x[b]; });
  idx.resize(keep);
  std::vector<double> p(keep);
  double top = x[idx[0]], total = 0;
  for (size_t i = 0; i < keep; ++i) total += p[i] = std::exp((x[idx[i]] - top) / o.temperature);
  double mass = 0;
  size_t cut = keep;
  for (size_t i = 0; i < keep; ++i) {
    mass += p[i] / total;
    if (mass >= o.top_p) {
      cut = i + 1;
      break;
    }
  }
  std::discrete_distribution<size_t> pick(p.begin(), p.begin() + static_cast<std::ptrdiff_t>(cut));
  return idx[pick(rng)];
}

}  // namespace oryx
