#include "oryx/train/lr_schedule.h"

#include <algorithm>
#include <cmath>

namespace oryx {

double LrSchedule::at(int64_t step) const {
  if (warmup > 0 && step < warmup) return peak * static_cast<double>(step + 1) / warmup;
  int64_t span = std::max<int64_t>(total - warmup, 1);
  double progress = std::clamp(static_cast<double>(step - warmup) / span, 0.0, 1.0);
  double cosine = 0.5 * (1.0 + std::cos(M_PI * progress));
  return peak * (min_ratio + (1.0 - min_ratio) * cosine);
}

}  // namespace oryx
