#include "oryx/bench/generate_bench.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>

#include "oryx/bench/device_stats.h"
#include "oryx/bench/step_profile.h"
#include "oryx/common/error.h"
#include "oryx/generate/generate.h"
#include "oryx/schedule/schedule.h"

namespace oryx::bench {

namespace {

constexpr int64_t kMaxBatchSize = 65536;                   // as every batch-size flag (docs/limits.md)
constexpr int64_t kMaxCachedPositions = int64_t{1} << 24;  // batch x (context + new): far past any GPU's memory
constexpr int64_t kWarmupNewTokens = 8;                    // a warm-up generate decodes this many at most

std::string precision_name(torch::ScalarType t) {
  switch (t) {
    case torch::kBFloat16: return "bf16";
    case torch::kHalf: return "fp16";
    case torch::kDouble: return "fp64";
    default: return "fp32";
  }
}

// Every position the case feeds (prompt and decoded tokens) must be in a mode the model has.
void check_modes_fit(const Schedule& s, const std::string& spec, const ModelConfig& c, int64_t context,
                     int64_t new_tokens) {
  if (c.kind == ModelKind::Oryx) return;
  const bool need_a = c.kind == ModelKind::Transformer;
  const char* what = need_a ? "a transformer and runs only all-A" : "a linear model and runs only all-L";
  auto prompt = s.prompt_modes(context);
  bool fits = need_a ? prompt.all().item<bool>() : !prompt.any().item<bool>();
  for (int64_t pos = context; fits && pos < context + new_tokens - 1; ++pos)
    fits = s.generated_mode(pos, context) == need_a;
  ORYX_CHECK(fits, "bench generate: model '", c.name, "' is ", what, ", not schedule '", spec, "'");
}

GenerateBenchRow run_case(OryxModel& model, const Schedule& schedule, const GenerateBenchOptions& o, int64_t batch,
                          int64_t context, bool profile, GenerateBenchRow row) {
  const auto device = model->device();
  row.batch = batch;
  row.context = context;
  row.new_tokens = o.new_tokens;
  auto gen = at::detail::createCPUGenerator(o.seed);
  // On the device already, so that generate()'s copy of the prompt costs nothing.
  auto prompts = torch::randint(model->config().vocab_size, {batch, context}, gen, torch::kLong).to(device);
  GenerateOptions g;
  g.sampling.temperature = 0;  // greedy
  try {
    GenerateOptions warm = g;
    warm.max_new = std::min(o.new_tokens, kWarmupNewTokens);
    for (int64_t i = 0; i < o.warmup; ++i) generate(model, prompts, schedule, warm);
    g.max_new = o.new_tokens;
    peak_memory_reset(device);
    auto r = generate(model, prompts, schedule, g);
    row.peak_mem_gb = peak_memory_gb(device);
    ORYX_CHECK(r.decode_steps == o.new_tokens - 1 && r.prefill_ms > 0 && r.decode_ms > 0,
               "bench generate: generate() ran ", r.decode_steps, " decode steps (", o.new_tokens - 1,
               " expected) in ", r.decode_ms, " ms after a prefill of ", r.prefill_ms, " ms");
    row.decode_steps = r.decode_steps;
    row.attention_fraction = r.attention_fraction;
    row.cache_bytes = r.cache_bytes;
    row.decode_path = r.decode_path;
    row.prefill_ms = r.prefill_ms;
    row.prefill_tokens_per_s = static_cast<double>(batch * context) / (r.prefill_ms / 1e3);
    // Steady state: the steps after the decode graphs' set-up (their warm-up and capture,
    // reported apart), or every step when none was set up (eager decoding).
    int64_t steady_steps = r.decode_steps - r.decode_setup_steps;
    double steady_ms = r.decode_ms - r.decode_setup_ms;
    if (steady_steps <= 0) steady_steps = r.decode_steps, steady_ms = r.decode_ms;
    row.decode_setup_ms = r.decode_setup_ms;
    row.decode_ms_per_token = steady_ms / static_cast<double>(steady_steps);
    row.decode_tokens_per_s = static_cast<double>(batch * steady_steps) / (steady_ms / 1e3);
    if (profile) {
      GenerateOptions prefill_only = g;
      prefill_only.max_new = 0;
      row.prefill_profile = profile_step([&] { generate(model, prompts, schedule, prefill_only); }, device);
    }
  } catch (const c10::OutOfMemoryError&) {
    // A memory-floor sweep reaches past the GPU on purpose: record the case and go on.
    row.out_of_memory = true;
    release_cached_memory(device);
  }
  return row;
}

}  // namespace

std::vector<std::string> generate_bench_default_schedules(ModelKind kind) {
  if (kind == ModelKind::Transformer) return {"all-A"};
  if (kind == ModelKind::Linear) return {"all-L"};
  return {"all-L", "all-A", "last:64,gen=L"};
}

int64_t generate_bench_max_seq_len(const GenerateBenchOptions& o) {
  int64_t longest = 0;
  for (int64_t c : o.contexts) longest = std::max(longest, c);
  return longest + o.new_tokens;
}

void generate_bench_check(const GenerateBenchOptions& o, const ModelConfig& c) {
  ORYX_CHECK(!o.batch_sizes.empty(), "bench generate: --batch-sizes is empty");
  ORYX_CHECK(!o.contexts.empty(), "bench generate: --contexts is empty");
  ORYX_CHECK(o.new_tokens >= 2 && o.new_tokens <= kMaxSequenceLength,
             "bench generate: --new-tokens must be in [2, ", kMaxSequenceLength, "] (at least one decode step), got ",
             o.new_tokens);
  ORYX_CHECK(o.warmup >= 0 && o.warmup <= 100, "bench generate: --warmup must be in [0, 100], got ", o.warmup);
  for (int64_t b : o.batch_sizes) {
    ORYX_CHECK(b >= 1, "bench generate: batch size ", b, " is not positive");
    ORYX_CHECK(b <= kMaxBatchSize, "bench generate: batch size ", b, " is over ", kMaxBatchSize);
  }
  for (int64_t t : o.contexts) {
    ORYX_CHECK(t >= 1, "bench generate: context ", t, " is not positive");
    ORYX_CHECK(t <= kMaxSequenceLength - o.new_tokens, "bench generate: context ", t, " + ", o.new_tokens,
               " new tokens exceed the longest sequence oryx allows, ", kMaxSequenceLength);
    ORYX_CHECK(t + o.new_tokens <= c.max_seq_len, "bench generate: context ", t, " + ", o.new_tokens,
               " new tokens exceed the model's max_seq_len of ", c.max_seq_len, " (raise it with --max-seq-len)");
    for (int64_t b : o.batch_sizes)
      ORYX_CHECK(b <= kMaxCachedPositions / (t + o.new_tokens), "bench generate: batch ", b, " x (context ", t,
                 " + ", o.new_tokens, " new tokens) is over ", kMaxCachedPositions, " cached positions");
  }
  const auto specs = o.schedules.empty() ? generate_bench_default_schedules(c.kind) : o.schedules;
  for (const auto& spec : specs) {
    ORYX_CHECK(!spec.empty(), "bench generate: --schedules holds an empty schedule (separate schedules with ';')");
    Schedule s = schedule_parse(spec);
    for (int64_t t : o.contexts) check_modes_fit(s, spec, c, t, o.new_tokens);
  }
}

std::vector<GenerateBenchRow> bench_generate(OryxModel& model, const GenerateBenchOptions& o,
                                             const std::function<void(const GenerateBenchRow&)>& on_row) {
  const auto& c = model->config();
  generate_bench_check(o, c);
  const auto specs = o.schedules.empty() ? generate_bench_default_schedules(c.kind) : o.schedules;
  GenerateBenchRow proto;
  proto.model = c.name;
  proto.device = model->device().str();
  proto.gpu = gpu_name();
  proto.precision = precision_name(model->dtype());
  std::vector<GenerateBenchRow> rows;
  for (const auto& spec : specs) {
    Schedule schedule = schedule_parse(spec);
    proto.schedule = spec;
    bool first = true;
    for (int64_t context : o.contexts)
      for (int64_t batch : o.batch_sizes) {
        rows.push_back(run_case(model, schedule, o, batch, context, o.profile_prefill && first, proto));
        first = false;
        if (on_row) on_row(rows.back());
      }
  }
  return rows;
}

}  // namespace oryx::bench
