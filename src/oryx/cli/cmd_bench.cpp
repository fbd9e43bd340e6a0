// oryx bench: performance figures. `oryx bench kernels` times our linear-mixer CUDA kernels
// at the peers' shapes (forward, forward+backward, and the decode step at B = 1, 16, 64),
// each the median of at least 50 CUDA-event timings after a warm-up, and prints ms,
// TFLOP/s, the peer's time and our ratio to it, and the target (docs/perf.md).
// `oryx bench train` times the whole training step of a model (bench/train_bench.h).
// `oryx bench generate` times generation (bench/generate_bench.h, cmd_bench_generate.cpp).
#include <cstdio>
#include <fstream>
#include <iostream>

#include "oryx/bench/device_stats.h"
#include "oryx/bench/kernel_bench.h"
#include "oryx/bench/step_profile.h"
#include "oryx/bench/train_bench.h"
#include "oryx/cli/commands.h"
#include "oryx/cli/flag_limits.h"
#include "oryx/common/error.h"

namespace oryx::cli {

namespace {

struct BenchKernelsOptions {
  bool json = false;
  int warmup = 10;
  int repeats = 100;
  std::string filter;
};

void run_bench_kernels(const BenchKernelsOptions& o) {
  ORYX_CHECK(o.repeats >= 50, "bench kernels: --repeats must be at least 50, got ", o.repeats);
  ORYX_CHECK(o.warmup >= 1, "bench kernels: --warmup must be at least 1, got ", o.warmup);
  bench::KernelBenchOptions opts;
  opts.warmup = o.warmup;
  opts.repeats = o.repeats;
  opts.filter = o.filter;
  std::string dev = bench::gpu_name();
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
              "step (steps), timed on one H100 80GB (torch 2.11, triton 3.6; docs/perf.md). target: chunked <= 0.5x peer; "
              "step <= max(1.5 x state bytes / 3 TB/s, 10 us)\n");
}

nlohmann::json train_result_json(const bench::TrainBenchResult& r) {
  auto opt = [](double v) { return v < 0 ? nlohmann::json(nullptr) : nlohmann::json(v); };
  return {{"name", r.model},        {"kind", r.kind},
          {"params", r.params},     {"device", r.device},
          {"gpu", bench::gpu_name()},   {"precision", r.precision},
          {"schedule", r.schedule}, {"attention_fraction", r.attention_fraction},
          {"batch_size", r.batch_size}, {"seq_len", r.seq_len},
          {"steps", r.steps},       {"step_ms", r.step_ms},
          {"step_ms_min", r.step_ms_min}, {"step_ms_max", r.step_ms_max},
          {"tokens_per_s", r.tokens_per_s}, {"flops_per_step", r.flops_per_step},
          {"model_tflops", r.model_tflops}, {"mfu", opt(r.mfu)},
          {"peak_mem_gb", opt(r.peak_mem_gb)}, {"backends", r.backends},
          {"final_loss", r.final_loss},
          {"processes", r.processes}, {"tokens_per_s_per_gpu", r.tokens_per_s_per_gpu},
          {"step_ms_alone", opt(r.step_ms_alone)}, {"scaling_efficiency", opt(r.scaling_efficiency)}};
}

void run_bench_train(const bench::TrainBenchOptions& o, bool json, int nproc_per_node) {
  launch_if_asked(nproc_per_node);
  auto r = bench::bench_train(o);
  if (!r.reports) return;
  if (!o.profile.empty()) {
    std::ofstream f(o.profile);
    ORYX_CHECK(f.good(), "bench train: cannot write --profile file '", o.profile, "'");
    auto j = train_result_json(r);
    j["profile"] = bench::step_profile_to_json(r.profile);
    f << j.dump(2) << "\n";
    ORYX_CHECK(f.good(), "bench train: writing '", o.profile, "' failed");
  }
  if (json) {
    std::cout << train_result_json(r).dump() << "\n";
    return;
  }
  std::printf("%s (%s, %.1fM parameters), B %lld x T %lld, %s, schedule %s (attention %.1f%%), device %s (%s)\n",
              r.model.c_str(), r.kind.c_str(), r.params / 1e6, static_cast<long long>(r.batch_size),
              static_cast<long long>(r.seq_len), r.precision.c_str(), r.schedule.c_str(), 100 * r.attention_fraction,
              r.device.c_str(), bench::gpu_name().c_str());
  std::printf("step %.2f ms (median of %lld; min %.2f, max %.2f), %.0f tokens/s, %.1f model TFLOP/s", r.step_ms,
              static_cast<long long>(r.steps), r.step_ms_min, r.step_ms_max, r.tokens_per_s, r.model_tflops);
  if (r.mfu >= 0) std::printf(", MFU %.1f%% of %.0f TFLOP/s", 100 * r.mfu, o.peak_tflops);
  if (r.peak_mem_gb >= 0) std::printf(", peak memory %.2f GB", r.peak_mem_gb);
  if (r.processes > 1)
    std::printf("\n%lld processes: %.0f tokens/s per process; alone (no all-reduce) %.2f ms a step, scaling efficiency "
                "%.1f%%", static_cast<long long>(r.processes), r.tokens_per_s_per_gpu, r.step_ms_alone,
                100 * r.scaling_efficiency);
  std::printf("\nbackends:");
  for (const auto& [mixer, impl] : r.backends) std::printf(" %s: %s;", mixer.c_str(), impl.c_str());
  std::printf(" loss %.4f\nFLOPs: 6 x parameters used per token + causal attention + chunked recurrence "
              "(docs/perf.md)\n", r.final_loss);
  if (!o.profile.empty()) bench::step_profile_print(r.profile, r.device.rfind("cuda", 0) == 0, "step");
}

}  // namespace

void register_bench(CLI::App& app) {
  auto* bench = app.add_subcommand("bench", "Performance benchmarks.\nExample:\n  oryx bench kernels --json");
  bench->require_subcommand(1);
  auto o = std::make_shared<BenchKernelsOptions>();
  auto* k = bench->add_subcommand(
      "kernels", "Time the linear-mixer CUDA kernels at the shapes the peers were timed at (docs/perf.md; needs ORYX_CUDA and an "
      "H100/H200).");
  k->add_flag("--json", o->json, "print JSON instead of a table");
  k->add_option("--warmup", o->warmup, "untimed runs before each measurement")
      ->capture_default_str()->check(in_range(1, 10'000));
  k->add_option("--repeats", o->repeats, "timed runs per measurement (median reported; at least 50)")
      ->capture_default_str()->check(in_range(50, 100'000));
  k->add_option("--filter", o->filter, "only rows whose \"op shape\" contains this, e.g. \"gdn fwd+bwd 8,2048\"");
  k->callback([o] { run_bench_kernels(*o); });

  auto t = std::make_shared<bench::TrainBenchOptions>();
  auto t_json = std::make_shared<bool>(false);
  auto* tr = bench->add_subcommand(
      "train",
      "Time the whole training step (forward, loss, backward, clipping, AdamW) on synthetic tokens.\n"
      "Examples:\n"
      "  oryx bench train --config configs/transformer-350m.json --device cuda\n"
      "  oryx bench train --config configs/oryx-gdn-350m.json --schedule every:10:64 --json\n"
      "  oryx bench train --config configs/oryx-gdn-tiny.json --batch-size 2 --seq-len 128 --steps 3");
  tr->add_option("--config", t->config, "model config (JSON)")->required();
  tr->add_option("--batch-size", t->batch_size, "sequences per step")
      ->capture_default_str()->check(in_range<int64_t>(1, kMaxBatch));
  tr->add_option("--seq-len", t->seq_len, "tokens per sequence")
      ->capture_default_str()->check(in_range<int64_t>(1, kMaxSeqLen));
  tr->add_option("--steps", t->steps, "timed steps (the median is reported)")
      ->capture_default_str()->check(in_range<int64_t>(1, 100'000));
  tr->add_option("--warmup", t->warmup, "untimed steps first")
      ->capture_default_str()->check(in_range<int64_t>(0, 10'000));
  tr->add_option("--schedule", t->schedule,
                 "Oryx models: 'sampler' (the training sampler) or a fixed schedule such as every:10:64")
      ->capture_default_str();
  tr->add_option("--device", t->device, "auto, cpu, cuda or cuda:N")->capture_default_str();
  tr->add_option("--precision", t->precision, "auto (bf16 autocast on CUDA), fp32 or bf16")->capture_default_str();
  tr->add_option("--peak-tflops", t->peak_tflops, "the GPU's dense bf16 peak, for MFU")
      ->capture_default_str()->check(in_range(1e-3, 1e6));
  tr->add_option("--profile", t->profile, "also profile one step: write its kernel table (JSON) to this file");
  add_seed_option(tr, "--seed", t->seed, "weights, tokens and modes");
  tr->add_flag("--json", *t_json, "print one JSON record instead of text");
  auto t_nproc = std::make_shared<int>(0);
  add_nproc_option(tr, *t_nproc);
  tr->callback([t, t_json, t_nproc] { run_bench_train(*t, *t_json, *t_nproc); });

  register_bench_generate(bench);
}

}  // namespace oryx::cli
