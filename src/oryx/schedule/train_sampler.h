// The chunked mixed-mode training schedule (SPEC section 2). Each sequence is split into
// chunks of C tokens (the last may be shorter); per sequence an attention ratio r is drawn
// from a mixture (default: probability 1/4 all-A, 1/4 all-L, 1/2 r ~ U(0,1)) and round(r n)
// of its n chunks, chosen uniformly at random, are put in mode A. Seeded and resumable.
#pragma once
#include <torch/types.h>

#include <random>
#include <string>

namespace oryx {

struct TrainScheduleOptions {
  int64_t chunk = 64;
  double p_all_a = 0.25;  // probability that a sequence is entirely mode A
  double p_all_l = 0.25;  // ... entirely mode L; otherwise r ~ U(0,1)
};

class TrainModeSampler {
 public:
  TrainModeSampler(TrainScheduleOptions opts, uint64_t seed);

  // [B,T] bool on the CPU, true = mode A.
  torch::Tensor sample(int64_t B, int64_t T) { return sample_rows(B, T, 0, B); }
  // Rows [first, first + rows) of what sample(B, T) would return, advancing the generator as
  // sample(B, T) does: each process of a data-parallel run draws the global batch's modes and
  // keeps its own sequences', so every sequence gets the modes a single process gives it.
  torch::Tensor sample_rows(int64_t B, int64_t T, int64_t first, int64_t rows);

  // The generator's state as text, and its restoration, for exact resume.
  std::string state() const;
  void restore(const std::string& state);

  const TrainScheduleOptions& options() const { return opts_; }

 private:
  TrainScheduleOptions opts_;
  std::mt19937_64 rng_;
};

}  // namespace oryx
