// `oryx bench generate` on the CPU (tiny configs): one row per case with positive figures
// measured through generate(), JSON that parses, one-line refusals of bad settings, and
// contexts past the config's max_seq_len through the override.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "oryx/bench/generate_bench.h"
#include "oryx/checkpoint/weights.h"
#include "oryx/common/error.h"
#include "oryx/model/model.h"
#include "support/models.h"
#include "support/temp_dir.h"

namespace oryx::testing {
namespace {

int count_lines(const std::string& s) { return static_cast<int>(std::count(s.begin(), s.end(), '\n')); }

TEST(BenchGenerate, LibraryGivesOneRowPerCaseWithPositiveFigures) {
  auto model = model_create(shipped_config("oryx-gdn-tiny"), 0);
  model->eval();
  bench::GenerateBenchOptions o;
  o.batch_sizes = {1, 2};
  o.contexts = {8, 20};
  o.schedules = {"all-L", "last:4,gen=L"};
  o.new_tokens = 3;
  auto rows = bench::bench_generate(model, o);
  ASSERT_EQ(rows.size(), 8u);
  size_t i = 0;
  for (const std::string s : {"all-L", "last:4,gen=L"})
    for (int64_t context : {8, 20})
      for (int64_t batch : {1, 2}) {
        const auto& r = rows[i++];
        EXPECT_EQ(r.schedule, s);
        EXPECT_EQ(r.context, context);
        EXPECT_EQ(r.batch, batch);
        EXPECT_EQ(r.model, "oryx-gdn-tiny");
        EXPECT_EQ(r.new_tokens, 3);
        EXPECT_EQ(r.decode_steps, 2);
        EXPECT_FALSE(r.out_of_memory);
        EXPECT_GT(r.prefill_ms, 0);
        EXPECT_GT(r.decode_ms_per_token, 0);
        EXPECT_NEAR(r.prefill_tokens_per_s, batch * context / (r.prefill_ms / 1e3), 1e-6 * r.prefill_tokens_per_s);
        EXPECT_NEAR(r.decode_tokens_per_s, batch / (r.decode_ms_per_token / 1e3), 1e-6 * r.decode_tokens_per_s);
        EXPECT_GT(r.cache_bytes, 0);
        EXPECT_LT(r.peak_mem_gb, 0);  // the CPU keeps no allocator statistics
        EXPECT_EQ(r.device, "cpu");
        EXPECT_EQ(r.precision, "fp32");
        EXPECT_EQ(r.decode_path, "eager");  // the decode graphs are for CUDA devices
      }
  // The cache holds every sequence's KV and state: twice the batch, twice the bytes.
  EXPECT_EQ(rows[1].cache_bytes, 2 * rows[0].cache_bytes);
  EXPECT_DOUBLE_EQ(rows[0].attention_fraction, 0.0);
  // last:4,gen=L at context 8: 4 of the 8 prompt + 2 decoded positions are A.
  EXPECT_DOUBLE_EQ(rows[4].attention_fraction, 0.4);
}

TEST(BenchGenerate, CliJsonParsesWithEveryField) {
  auto r = run_cli("bench generate --config " + shipped_config_path("oryx-mamba2-tiny") +
                   " --device cpu --batch-sizes 1,2 --contexts 16 --schedules 'all-A;every:2:4' --new-tokens 3 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["model"], "oryx-mamba2-tiny");
  EXPECT_EQ(j["precision"], "fp32");
  ASSERT_EQ(j["rows"].size(), 4u);
  for (const auto& row : j["rows"]) {
    for (const char* key : {"model", "schedule", "batch", "context", "new_tokens", "prefill_ms", "prefill_tokens_per_s",
                            "decode_ms_per_token", "decode_tokens_per_s", "cache_bytes", "peak_mem_gb", "decode_path",
                            "device", "gpu", "precision"})
      EXPECT_TRUE(row.contains(key)) << key;
    EXPECT_GT(row["prefill_ms"].get<double>(), 0);
    EXPECT_GT(row["decode_tokens_per_s"].get<double>(), 0);
    EXPECT_GT(row["cache_bytes"].get<int64_t>(), 0);
    EXPECT_TRUE(row["peak_mem_gb"].is_null());
  }
  EXPECT_EQ(j["rows"][2]["schedule"], "every:2:4");
  // A transformer's own schedule is the default, and the table has a header naming the model.
  auto text = run_cli("bench generate --config " + shipped_config_path("transformer-tiny") +
                      " --device cpu --batch-sizes 1 --contexts 8 --new-tokens 2");
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("transformer-tiny (transformer"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("all-A"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("decode tok/s"), std::string::npos) << text.out;
}

// --profile: one more prefill of each schedule's first case under the profiler (CPU
// operators here), in the JSON file and as a table after the rows.
TEST(BenchGenerate, ProfileWritesEachSchedulesPrefill) {
  TempDir dir;
  const std::string path = dir.file("prefill.json");
  auto r = run_cli("bench generate --config " + shipped_config_path("oryx-gdn-tiny") +
                   " --device cpu --batch-sizes 2,1 --contexts 24,8 --schedules 'all-L;last:4' --new-tokens 2 "
                   "--profile " + path);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("all-L, batch 2, context 24: profiled prefill"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("last:4, batch 2, context 24: profiled prefill"), std::string::npos) << r.out;
  std::ifstream f(path);
  auto j = nlohmann::json::parse(f);
  ASSERT_EQ(j.size(), 2u);
  for (const auto& c : j) {
    EXPECT_EQ(c["batch"], 2);
    EXPECT_EQ(c["context"], 24);
    EXPECT_GT(c["prefill_profile"]["step_ms"].get<double>(), 0);
    EXPECT_FALSE(c["prefill_profile"]["by_kernel"].empty());
  }
  EXPECT_EQ(j[1]["schedule"], "last:4");
}

TEST(BenchGenerate, BadSettingsExitTwoWithOneLine) {
  const std::string base = "bench generate --config " + shipped_config_path("gdn-tiny") + " --device cpu ";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"--batch-sizes ''", "--batch-sizes is empty"},
      {"--contexts 8,x", "'x' is not an integer"},
      {"--contexts 8,,9", "'' is not an integer"},
      {"--batch-sizes 0 --contexts 8", "batch size 0 is not positive"},
      {"--contexts 8 --schedules ''", "--schedules is empty"},
      {"--contexts 8 --schedules all-A", "runs only all-L, not schedule 'all-A'"},
      {"--contexts 200 --max-seq-len 100", "exceed the model's max_seq_len of 100"},
      {"--contexts 8 --new-tokens 1", "--new-tokens"},
      {"--contexts 8 --precision fp8", "--precision"},
  };
  for (const auto& [args, needle] : cases) {
    auto r = run_cli(base + args);
    EXPECT_EQ(r.exit_code, 2) << args << ": " << r.err;
    EXPECT_EQ(count_lines(r.err), 1) << args << ": " << r.err;
    EXPECT_NE(r.err.find("oryx: error: "), std::string::npos) << args << ": " << r.err;
    EXPECT_NE(r.err.find(needle), std::string::npos) << args << ": '" << r.err << "' lacks '" << needle << "'";
  }
}

// The rest of the refusals, in the library (each one line, naming the bad value).
TEST(BenchGenerate, CheckRefusesImpossibleCases) {
  auto expect_refused = [](const bench::GenerateBenchOptions& o, const std::string& model, const std::string& needle) {
    try {
      bench::generate_bench_check(o, shipped_config(model));
      ADD_FAILURE() << "accepted; expected '" << needle << "'";
    } catch (const oryx::Error& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find(needle), std::string::npos) << "'" << msg << "' lacks '" << needle << "'";
      EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    }
  };
  bench::GenerateBenchOptions o;
  o.contexts = {8};
  o.new_tokens = 4;
  EXPECT_NO_THROW(bench::generate_bench_check(o, shipped_config("oryx-gdn-tiny")));
  auto with = [&o](auto change) {
    auto copy = o;
    change(copy);
    return copy;
  };
  expect_refused(with([](auto& x) { x.batch_sizes = {1, -2}; }), "oryx-gdn-tiny", "batch size -2 is not positive");
  expect_refused(with([](auto& x) { x.contexts = {}; }), "oryx-gdn-tiny", "--contexts is empty");
  expect_refused(with([](auto& x) { x.contexts = {-5}; }), "oryx-gdn-tiny", "context -5 is not positive");
  expect_refused(with([](auto& x) { x.contexts = {2'000'000}; }), "oryx-gdn-tiny", "exceed the longest sequence");
  expect_refused(with([](auto& x) { x.batch_sizes = {100'000}; }), "oryx-gdn-tiny", "batch size 100000 is over 65536");
  expect_refused(with([](auto& x) { x.batch_sizes = {60'000}; x.contexts = {1000}; }), "oryx-gdn-tiny",
                 "cached positions");
  expect_refused(with([](auto& x) { x.contexts = {1021}; }), "oryx-gdn-tiny", "max_seq_len of 1024");
  expect_refused(with([](auto& x) { x.schedules = {"all-L", ""}; }), "oryx-gdn-tiny", "empty schedule");
  expect_refused(with([](auto& x) { x.schedules = {"sometimes"}; }), "oryx-gdn-tiny", "unknown schedule 'sometimes'");
  expect_refused(with([](auto& x) { x.schedules = {"last:4,gen=L"}; }), "gdn-tiny", "runs only all-L");
  // A transformer refuses a schedule whose generated tokens would be in mode L.
  expect_refused(with([](auto& x) { x.schedules = {"first:8,gen=L"}; }), "transformer-tiny", "runs only all-A");
  EXPECT_EQ(bench::generate_bench_default_schedules(ModelKind::Linear), std::vector<std::string>{"all-L"});
}

// The tiny configs stop at max_seq_len 1024; the bench raises it to the longest case, also
// for loaded weights (with a warning on stderr).
TEST(BenchGenerate, ContextPastConfigMaxSeqLenRunsThroughOverride) {
  const auto cfg = shipped_config("oryx-gdn-tiny");
  ASSERT_LT(cfg.max_seq_len, 1100);
  auto r = run_cli("bench generate --config " + shipped_config_path("oryx-gdn-tiny") +
                   " --device cpu --batch-sizes 1 --contexts 1100 --schedules all-L --new-tokens 2 --warmup 0 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["max_seq_len"], 1102);
  ASSERT_EQ(j["rows"].size(), 1u);
  EXPECT_EQ(j["rows"][0]["context"], 1100);
  EXPECT_GT(j["rows"][0]["prefill_ms"].get<double>(), 0);

  auto dir = make_temp_dir("bench-generate");
  std::ofstream(dir + "/short.json") << R"({"name": "short", "vocab_size": 64, "d_model": 32, "n_layers": 1,
      "n_heads": 2, "chunk_size": 16, "max_seq_len": 32, "weights": "short.safetensors"})";
  auto short_cfg = config_load(dir + "/short.json");
  short_cfg.weights.clear();
  weights_save(*model_create(short_cfg, 3), dir + "/short.safetensors");
  auto loaded = run_cli("bench generate --config " + dir + "/short.json --device cpu --batch-sizes 1 --contexts 40 "
                        "--schedules all-A --new-tokens 2 --json");
  ASSERT_EQ(loaded.exit_code, 0) << loaded.err;
  EXPECT_NE(loaded.err.find("past its max_seq_len of 32"), std::string::npos) << loaded.err;
  auto lj = nlohmann::json::parse(loaded.out);
  EXPECT_NE(lj["weights"].get<std::string>().find("short.safetensors"), std::string::npos);
  EXPECT_GT(lj["rows"][0]["decode_ms_per_token"].get<double>(), 0);
}

}  // namespace
}  // namespace oryx::testing
