// Timing of our linear-mixer kernels at the shapes of ANCHORS.md (`oryx bench kernels`).
// The chunked rows time linear_chunked, the call the layer makes (SSD's long sequences run in
// segments side by side: ORYX_SSD_SEGMENT=0 times the kernels' single walk instead).
// Each figure is the median of at least 50 runs timed with CUDA events after a warm-up;
// the peers' figures (fla and mamba_ssm on the same H100 model, ANCHORS.md) are a table in
// kernel_bench.cpp, and each row carries its target (issue 5) and whether it is met.
#pragma once
#include <functional>
#include <string>
#include <vector>

namespace oryx::bench {

struct KernelBenchOptions {
  int warmup = 10;     // untimed runs before timing
  int repeats = 100;   // timed runs; the median is reported (at least 50 are enforced)
  std::string filter;  // run only rows whose "op shape" contains this (empty: all)
};

struct KernelBenchRow {
  std::string op;        // "gdn fwd", "gdn fwd+bwd", "ssd fwd", "ssd fwd+bwd", "gdn step", "ssd step"
  std::string shape;     // "B,T,H,D" or "B=16 H16 D128"
  double ms = 0;         // median
  double tflops = 0;     // matmul FLOPs the algorithm performs / time (0 for steps)
  double gbs = 0;        // state bytes read + written / time (steps only)
  std::string peer;      // which peer the ratio is against
  double peer_ms = 0;
  double ratio = 0;      // ms / peer_ms
  double target_ms = 0;  // the target for this row
  bool met = false;      // ms <= target_ms
};

// True when this build has the kernels and a Hopper GPU is present.
bool kernel_bench_available(std::string* why);

// Runs every benchmark, calling on_row (if given) as each row completes; throws oryx::Error
// when kernel_bench_available() is false.
std::vector<KernelBenchRow> bench_kernels(const KernelBenchOptions& opts,
                                          const std::function<void(const KernelBenchRow&)>& on_row = {});

// Median of `repeats` timings (ms) of fn() with CUDA events on the current stream, after
// `warmup` untimed calls. fn must only queue device work on the current stream.
double time_median_ms(const std::function<void()>& fn, int warmup, int repeats);

// The FLOPs (matmul multiply-adds x 2) of one chunked pass, per (batch, head, chunk of 64),
// as docs/kernels.md counts them.
double chunk_flops(bool gdn, bool backward, int64_t K, int64_t V);

}  // namespace oryx::bench
