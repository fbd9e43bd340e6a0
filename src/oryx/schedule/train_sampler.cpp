#include "oryx/schedule/train_sampler.h"

#include <cmath>
#include <numeric>
#include <sstream>

#include "oryx/common/error.h"

namespace oryx {

TrainModeSampler::TrainModeSampler(TrainScheduleOptions opts, uint64_t seed)
    : opts_(opts), rng_(seed) {
  ORYX_CHECK(opts.chunk > 0, "train schedule: chunk must be positive, got ", opts.chunk);
  ORYX_CHECK(opts.p_all_a >= 0 && opts.p_all_l >= 0 && opts.p_all_a + opts.p_all_l <= 1.0,
             "train schedule: p_all_a (", opts.p_all_a, ") and p_all_l (", opts.p_all_l,
             ") must be probabilities summing to at most 1");
}

torch::Tensor TrainModeSampler::sample_rows(int64_t B, int64_t T, int64_t first, int64_t rows) {
  TORCH_CHECK(first >= 0 && rows >= 0 && first + rows <= B, "sample_rows: rows [", first, ", ", first + rows,
              ") outside a batch of ", B);
  auto modes = torch::zeros({rows, T}, torch::kBool);
  auto* p = modes.data_ptr<bool>();
  int64_t n = (T + opts_.chunk - 1) / opts_.chunk;
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  std::vector<int64_t> chunks(static_cast<size_t>(n));
  for (int64_t b = 0; b < B; ++b) {
    double u = unit(rng_);
    double r = u < opts_.p_all_a ? 1.0 : u < opts_.p_all_a + opts_.p_all_l ? 0.0 : unit(rng_);
    auto m = static_cast<int64_t>(std::llround(r * n));
    // A partial Fisher-Yates shuffle picks m distinct chunks uniformly.
    std::iota(chunks.begin(), chunks.end(), 0);
    for (int64_t i = 0; i < m; ++i) {
      std::uniform_int_distribution<int64_t> pick(i, n - 1);
      std::swap(chunks[static_cast<size_t>(i)], chunks[static_cast<size_t>(pick(rng_))]);
      int64_t c = chunks[static_cast<size_t>(i)];
      if (b < first || b >= first + rows) continue;
      for (int64_t t = c * opts_.chunk; t < std::min(T, (c + 1) * opts_.chunk); ++t) p[(b - first) * T + t] = true;
    }
  }
  return modes;
}

std::string TrainModeSampler::state() const {
  std::ostringstream os;
  os << rng_;
  return os.str();
}

void TrainModeSampler::restore(const std::string& state) {
  std::istringstream is(state);
  is >> rng_;
  ORYX_CHECK(!is.fail(), "train schedule: cannot restore the sampler state (corrupt checkpoint?)");
}

}  // namespace oryx
