// oryx bench: performance figures. `oryx bench kernels` times our linear-mixer CUDA kernels
// at the shapes of ANCHORS.md (forward, forward+backward, and the decode step at B = 1, 16,
// 64), each the median of at least 50 CUDA-event timings after a warm-up, and prints ms,
// TFLOP/s, the peer's time and our ratio to it, and the issue-5 target (docs/perf.md).
#include <cstdio>
#include <iostream>

#include "oryx/bench/kernel_bench.h"
#include "oryx/cli/commands.h"
#include "oryx/common/error.h"

#ifdef ORYX_WITH_CUDA_KERNELS
#include <cuda_runtime_api.h>
#endif

namespace oryx::cli {

namespace {

struct BenchKernelsOptions {
  bool json = false;
  int warmup = 10;
  int repeats = 100;
  std::string filter;
};

std::string device_name() {
#ifdef ORYX_WITH_CUDA_KERNELS
  cudaDeviceProp prop{};
  int dev = 0;
  if (cudaGetDevice(&dev) == cudaSuccess && cudaGetDeviceProperties(&prop, dev) == cudaSuccess)
    return prop.name;
#endif
  return "none";
}

void run_bench_kernels(const BenchKernelsOptions& o) {
  ORYX_CHECK(o.repeats >= 50, "bench kernels: --repeats must be at least 50, got ", o.repeats);
  ORYX_CHECK(o.warmup >= 1, "bench kernels: --warmup must be at least 1, got ", o.warmup);
  bench::KernelBenchOptions opts;
  opts.warmup = o.warmup;
  opts.repeats = o.repeats;
  opts.filter = o.filter;
  std::string dev = device_name();
  auto print_row = [](const bench::KernelBenchRow& r) {
    std::printf("%-12s %-16s %9.4f %9.1f %9.0f %9.3f %7.3f %9.4f  %s\n", r.op.c_str(), r.shape.c_str(), r.ms,
                r.tflops, r.gbs, r.peer_ms, r.ratio, r.target_ms, r.met ? "yes" : "NO");
    std::fflush(stdout);
  };
  if (!o.json) {
    std::printf("device %s; median of %d runs after %d warm-up runs, CUDA events\n", dev.c_str(), o.repeats, o.warmup);
    std::printf("%-12s %-16s %9s %9s %9s %9s %7s %9s  %s\n", "op", "shape", "ms", "TFLOP/s", "GB/s", "peer ms",
                "ratio", "target", "met");
  }
  auto rows = o.json ? bench::bench_kernels(opts) : bench::bench_kernels(opts, print_row);
  if (o.json) {
    nlohmann::json j = {{"device", dev}, {"warmup", o.warmup}, {"repeats", o.repeats}, {"rows", nlohmann::json::array()}};
    for (const auto& r : rows)
      j["rows"].push_back({{"op", r.op}, {"shape", r.shape}, {"ms", r.ms}, {"tflops", r.tflops},
                           {"gb_per_s", r.gbs}, {"peer", r.peer}, {"peer_ms", r.peer_ms},
                           {"ratio", r.ratio}, {"target_ms", r.target_ms}, {"met", r.met}});
    std::cout << j.dump(2) << "\n";
    return;
  }
  std::printf("peers: fla chunk_gated_delta_rule (gdn), fla chunk_simple_gla (ssd), fla fused_recurrent GDN "
              "step (steps); ANCHORS.md. target: chunked <= 0.5x peer; step <= max(1.5 x state bytes / 3 TB/s, 10 us)\n");
}

}  // namespace

void register_bench(CLI::App& app) {
  auto* bench = app.add_subcommand("bench", "Performance benchmarks.\nExample:\n  oryx bench kernels --json");
  bench->require_subcommand(1);
  auto o = std::make_shared<BenchKernelsOptions>();
  auto* k = bench->add_subcommand(
      "kernels", "Time the linear-mixer CUDA kernels at the ANCHORS.md shapes (needs ORYX_CUDA and an H100/H200).");
  k->add_flag("--json", o->json, "print JSON instead of a table");
  k->add_option("--warmup", o->warmup, "untimed runs before each measurement")->capture_default_str();
  k->add_option("--repeats", o->repeats, "timed runs per measurement (median reported; at least 50)")
      ->capture_default_str();
  k->add_option("--filter", o->filter, "only rows whose \"op shape\" contains this, e.g. \"gdn fwd+bwd 8,2048\"");
  k->callback([o] { run_bench_kernels(*o); });
}

}  // namespace oryx::cli
