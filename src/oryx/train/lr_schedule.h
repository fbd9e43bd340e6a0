// The learning-rate schedule: linear warm-up from 0 to the peak over `warmup` steps, then a
// cosine decay to min_ratio * peak at `total` steps (half a cosine period).
#pragma once
#include <cstdint>

namespace oryx {

struct LrSchedule {
  double peak = 3e-4;
  double min_ratio = 0.1;
  int64_t warmup = 0;
  int64_t total = 1;

  // The rate for the update that ends step `step` (0-based).
  double at(int64_t step) const;
};

}  // namespace oryx
