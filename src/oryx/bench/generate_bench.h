// `oryx bench generate`: the speed and memory of generation, per (schedule, context, batch),
// measured THROUGH generate() (generate/generate.h), the product's path, so that the figures
// follow every later change to it. Each case feeds a random prompt (seeded ids, context =
// prompt length) and decodes `new_tokens` greedily, after `warmup` untimed short generates
// of the same batch and prompt (allocator, cuBLAS and kernels warm). generate() times its
// prefill and its decode loop itself (steady clock after a device synchronize); the row
// derives tokens/s from them, and reads the cache's bytes and, on CUDA, the caching
// allocator's peak over the timed generate (weights included).
#pragma once
#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "oryx/bench/train_bench.h"
#include "oryx/config/model_config.h"
#include "oryx/model/model.h"

namespace oryx::bench {

struct GenerateBenchOptions {
  std::vector<int64_t> batch_sizes = {1, 16, 64};
  std::vector<int64_t> contexts = {1024, 8192, 32768};  // prompt lengths
  std::vector<std::string> schedules;  // empty: the model's own (generate_bench_default_schedules)
  int64_t new_tokens = 128;            // generated per sequence (>= 2: at least one decode step)
  int64_t warmup = 1;                  // untimed short generates per case
  uint64_t seed = 0;                   // prompt ids
  bool profile_prefill = false;        // profile one warm prefill of each schedule's first case
};

struct GenerateBenchRow {
  std::string model, schedule, device, gpu, precision;  // schedule: as given
  int64_t batch = 0, context = 0, new_tokens = 0;
  int64_t decode_steps = 0;            // forward passes of one token (new_tokens - 1)
  double attention_fraction = 0;       // over the fed positions
  bool out_of_memory = false;          // the GPU ran out of memory: no figures below
  double prefill_ms = 0, prefill_tokens_per_s = 0;
  double decode_ms_per_token = 0;      // per decode step (one token for every sequence), after
                                       // the CUDA decode graphs' set-up
  double decode_tokens_per_s = 0;      // batch x those steps / their time
  double decode_setup_ms = 0;          // the graphs' warm-up and capture steps (once per call)
  int64_t cache_bytes = 0;             // ModelCache::bytes()
  std::string decode_path;             // GenerateResult::decode_path: fused graph, graph, eager
  double peak_mem_gb = -1;             // < 0: not reported (CPU)
  // With profile_prefill, on the first row of each schedule: one more prefill of the case's
  // prompt (generate() with no new tokens) under libtorch's profiler, after the timed run.
  std::optional<StepProfile> prefill_profile;
};

// Oryx: all-L, all-A and last:64,gen=L; a transformer: all-A; a linear model: all-L.
std::vector<std::string> generate_bench_default_schedules(ModelKind kind);

// The max_seq_len the cases need: the largest context + new_tokens.
int64_t generate_bench_max_seq_len(const GenerateBenchOptions& o);

// Refuses (oryx::Error, one line) empty lists, batch sizes outside [1, 65536], non-positive
// contexts, fewer than 2 new tokens, a case over the hard bounds (context + new tokens over kMaxSequenceLength,
// batch x (context + new tokens) over 2^24 cached positions) or over the config's
// max_seq_len, unknown schedules, and schedules that put a token in a mode the model's kind
// lacks (as generate() refuses them).
void generate_bench_check(const GenerateBenchOptions& o, const ModelConfig& c);

// Runs every case (schedule, then context, then batch size, in the orders given), calling
// on_row (if given) as each completes. The model must already be on its device and dtype.
std::vector<GenerateBenchRow> bench_generate(OryxModel& model, const GenerateBenchOptions& o,
                                             const std::function<void(const GenerateBenchRow&)>& on_row = {});

}  // namespace oryx::bench
