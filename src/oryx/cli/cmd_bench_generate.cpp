// `oryx bench generate`: prefill and decode speed and memory of generation over batch sizes,
// contexts and schedules (bench/generate_bench.h), on random or loaded weights. Registered
// under `oryx bench` by cmd_bench.cpp.
#include <cstdio>
#include <fstream>
#include <iostream>

#include "oryx/bench/device_stats.h"
#include "oryx/bench/generate_bench.h"
#include "oryx/bench/step_profile.h"
#include "oryx/cli/commands.h"
#include "oryx/cli/int_list.h"
#include "oryx/cli/flag_limits.h"
#include "oryx/cli/model_options.h"
#include "oryx/common/device.h"
#include "oryx/common/error.h"
#include "oryx/common/progress.h"
#include "oryx/model/params.h"

namespace oryx::cli {

namespace {

struct BenchGenerateCliOptions {
  ModelOptions model;
  std::string batch_sizes = "1,16,64", contexts = "1024,8192,32768", schedules;
  bool schedules_given = false;
  int64_t max_seq_len = 0;  // 0: the largest context + new tokens
  bench::GenerateBenchOptions bench;
  std::string profile;  // --profile FILE
  bool json = false;
};

nlohmann::json row_json(const bench::GenerateBenchRow& r) {
  auto fig = [&r](double v) { return r.out_of_memory || v < 0 ? nlohmann::json(nullptr) : nlohmann::json(v); };
  return {{"model", r.model},
          {"schedule", r.schedule},
          {"batch", r.batch},
          {"context", r.context},
          {"new_tokens", r.new_tokens},
          {"decode_steps", r.decode_steps},
          {"attention_fraction", fig(r.attention_fraction)},
          {"out_of_memory", r.out_of_memory},
          {"prefill_ms", fig(r.prefill_ms)},
          {"prefill_tokens_per_s", fig(r.prefill_tokens_per_s)},
          {"decode_ms_per_token", fig(r.decode_ms_per_token)},
          {"decode_tokens_per_s", fig(r.decode_tokens_per_s)},
          {"decode_setup_ms", fig(r.decode_setup_ms)},
          {"cache_bytes", r.out_of_memory ? nlohmann::json(nullptr) : nlohmann::json(r.cache_bytes)},
          {"peak_mem_gb", fig(r.peak_mem_gb)},
          {"decode_path", r.decode_path},
          {"device", r.device},
          {"gpu", r.gpu},
          {"precision", r.precision}};
}

void print_row(const bench::GenerateBenchRow& r) {
  std::printf("%-20s %6lld %8lld", r.schedule.c_str(), static_cast<long long>(r.batch),
              static_cast<long long>(r.context));
  if (r.out_of_memory) {
    std::printf("  out of memory\n");
  } else {
    std::printf(" %11.2f %14.0f %14.3f %13.0f %10.2f", r.prefill_ms, r.prefill_tokens_per_s, r.decode_ms_per_token,
                r.decode_tokens_per_s, static_cast<double>(r.cache_bytes) / 1e6);
    if (r.peak_mem_gb >= 0)
      std::printf(" %8.2f", r.peak_mem_gb);
    else
      std::printf(" %8s", "-");
    std::printf("  %s\n", r.decode_path.c_str());
  }
  std::fflush(stdout);
}

// --profile: each schedule's profiled prefill, as JSON in the file and as a table on stdout
// unless the output is --json.
void write_prefill_profiles(const std::string& path, const std::vector<bench::GenerateBenchRow>& rows, bool print) {
  nlohmann::json j = nlohmann::json::array();
  for (const auto& r : rows) {
    if (!r.prefill_profile) continue;
    nlohmann::json case_json = row_json(r);
    case_json["prefill_profile"] = bench::step_profile_to_json(*r.prefill_profile);
    j.push_back(case_json);
    if (print) {
      std::printf("\n%s, batch %lld, context %lld: ", r.schedule.c_str(), static_cast<long long>(r.batch),
                  static_cast<long long>(r.context));
      bench::step_profile_print(*r.prefill_profile, r.device.rfind("cuda", 0) == 0, "prefill");
    }
  }
  std::ofstream f(path);
  ORYX_CHECK(f.good(), "bench generate: cannot write --profile file '", path, "'");
  f << j.dump(2) << "\n";
  ORYX_CHECK(f.good(), "bench generate: writing --profile file '", path, "' failed");
}

void run_bench_generate(BenchGenerateCliOptions o) {
  auto& b = o.bench;
  b.profile_prefill = !o.profile.empty();
  b.batch_sizes = parse_int_list("--batch-sizes", o.batch_sizes);
  b.contexts = parse_int_list("--contexts", o.contexts);
  if (o.schedules_given) {
    ORYX_CHECK(!o.schedules.empty(), "bench generate: --schedules is empty");
    b.schedules = split(o.schedules, ';');
  }
  const torch::Device device = device_parse(o.model.device);
  const torch::ScalarType dtype = inference_dtype(o.model.precision, device);

  ModelConfig cfg = model_options_config(o.model);
  const int64_t trained_len = cfg.max_seq_len;
  cfg.max_seq_len = o.max_seq_len > 0 ? o.max_seq_len : bench::generate_bench_max_seq_len(b);
  // Before loading the weights, so that bad settings are refused at once.
  bench::generate_bench_check(b, cfg);
  const bool loaded = !cfg.weights.empty();
  if (loaded && cfg.max_seq_len > trained_len)
    std::fprintf(stderr, "oryx bench generate: warning: running '%s' up to %lld tokens, past its max_seq_len of %lld\n",
                 cfg.name.c_str(), static_cast<long long>(cfg.max_seq_len), static_cast<long long>(trained_len));
  auto model = model_load(cfg, o.model.seed, device, dtype);
  model->eval();
  const int64_t params = param_counts(*model).total;
  const std::string weights = loaded ? cfg.weights : "random (init seed " + std::to_string(o.model.seed) + ")";
  const int64_t cases = static_cast<int64_t>(b.batch_sizes.size() * b.contexts.size() *
                                             (b.schedules.empty() ? bench::generate_bench_default_schedules(cfg.kind).size()
                                                                  : b.schedules.size()));

  if (o.json) {
    ProgressBar progress("bench generate", cases, "case");
    int64_t done = 0;
    auto rows = bench::bench_generate(model, b, [&](const bench::GenerateBenchRow& r) {
      progress.update(++done, r.schedule + " B" + std::to_string(r.batch) + " T" + std::to_string(r.context));
    });
    progress.finish();
    nlohmann::json j = {{"model", cfg.name},          {"kind", to_string(cfg.kind)},
                        {"params", params},           {"weights", weights},
                        {"device", device.str()},     {"gpu", rows.empty() ? "none" : rows[0].gpu},
                        {"precision", rows.empty() ? "" : rows[0].precision},
                        {"new_tokens", b.new_tokens}, {"warmup", b.warmup},
                        {"max_seq_len", cfg.max_seq_len}, {"seed", b.seed},
                        {"rows", nlohmann::json::array()}};
    for (const auto& r : rows) j["rows"].push_back(row_json(r));
    if (b.profile_prefill) write_prefill_profiles(o.profile, rows, false);
    std::cout << j.dump(2) << "\n";
    return;
  }
  std::printf("%s (%s, %.1fM parameters), weights %s, %s, device %s (%s)\n", cfg.name.c_str(), to_string(cfg.kind),
              params / 1e6, weights.c_str(), dtype == torch::kBFloat16 ? "bf16" : "fp32", device.str().c_str(),
              device.is_cuda() ? bench::gpu_name().c_str() : "no GPU");
  std::printf("greedy, %lld new tokens after a random prompt of `context` ids (seed %llu); %lld warm-up generate(s) "
              "per case; max_seq_len %lld; times from generate()\n",
              static_cast<long long>(b.new_tokens), static_cast<unsigned long long>(b.seed),
              static_cast<long long>(b.warmup), static_cast<long long>(cfg.max_seq_len));
  std::printf("%-20s %6s %8s %11s %14s %14s %13s %10s %8s  %s\n", "schedule", "batch", "context", "prefill ms",
              "prefill tok/s", "decode ms/tok", "decode tok/s", "cache MB", "peak GB", "decode path");
  std::fflush(stdout);
  auto rows = bench::bench_generate(model, b, print_row);
  if (b.profile_prefill) write_prefill_profiles(o.profile, rows, true);
}

}  // namespace

void register_bench_generate(CLI::App* bench) {
  auto o = std::make_shared<BenchGenerateCliOptions>();
  auto* cmd = bench->add_subcommand(
      "generate",
      "Time generation through generate() (prefill and decode, greedy, random prompts) over batch sizes, contexts and "
      "schedules, with the cache's size and the GPU's peak memory.\n"
      "Examples:\n"
      "  oryx bench generate --config configs/oryx-gdn-350m.json --device cuda --schedules 'all-L;all-A;last:64,gen=L'\n"
      "  oryx bench generate --config configs/transformer-350m.json --batch-sizes 1,16 --contexts 1024 --json\n"
      "  oryx bench generate --checkpoint runs/out/demo/run/final --contexts 512 --new-tokens 32");
  model_options_add(cmd, o->model);
  model_options_add_precision(cmd, o->model);
  cmd->add_option("--batch-sizes", o->batch_sizes, "comma-separated batch sizes")->capture_default_str();
  cmd->add_option("--contexts", o->contexts, "comma-separated prompt lengths")->capture_default_str();
  auto* sched = cmd->add_option("--schedules", o->schedules,
                                "schedules separated by ';' (default: all-L;all-A;last:64,gen=L for Oryx models, "
                                "all-A for transformers, all-L for linear models)");
  cmd->add_option("--new-tokens", o->bench.new_tokens, "tokens generated per sequence (at least 2)")
      ->capture_default_str()->check(in_range<int64_t>(2, kMaxSeqLen));
  cmd->add_option("--warmup", o->bench.warmup, "untimed short generates per case")
      ->capture_default_str()->check(in_range<int64_t>(0, 100));
  cmd->add_option("--max-seq-len", o->max_seq_len,
                  "the model's max_seq_len for this run (0 = the largest context + new tokens); a checkpoint may "
                  "run past its own, with a warning")
      ->capture_default_str()->check(in_range<int64_t>(0, kMaxSeqLen));
  add_seed_option(cmd, "--seed", o->bench.seed, "prompt ids");
  cmd->add_option("--profile", o->profile,
                  "profile one more prefill of each schedule's first case (libtorch's profiler: GPU kernels, or CPU "
                  "operators) and write them to this JSON file");
  cmd->add_flag("--json", o->json, "print one JSON object with a \"rows\" array instead of a table");
  cmd->callback([o, sched] {
    auto opts = *o;
    opts.schedules_given = sched->count() > 0;
    run_bench_generate(opts);
  });
}

}  // namespace oryx::cli
