// `oryx bench train` on the CPU (tiny configs): it runs, reports what it promises, refuses
// what it cannot do, and its FLOP formula matches a count by hand.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "oryx/bench/train_bench.h"
#include "oryx/model/model.h"
#include "support/models.h"

namespace oryx::testing {
namespace {

TEST(BenchTrain, CpuRunReportsEveryField) {
  auto dir = make_temp_dir("bench-train");
  auto r = run_cli("bench train --config " + shipped_config_path("oryx-gdn-tiny") +
                   " --batch-size 2 --seq-len 64 --steps 2 --warmup 1 --device cpu --json --profile " + dir +
                   "/profile.json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_GT(j["tokens_per_s"].get<double>(), 0);
  EXPECT_GT(j["step_ms"].get<double>(), 0);
  EXPECT_GT(j["flops_per_step"].get<double>(), 0);
  EXPECT_TRUE(j["mfu"].is_null());          // no MFU without a GPU
  EXPECT_TRUE(j["peak_mem_gb"].is_null());
  EXPECT_EQ(j["backends"]["gdn"], "reference");
  EXPECT_EQ(j["backends"]["attention"], "torch SDPA");
  EXPECT_EQ(j["batch_size"], 2);
  EXPECT_TRUE(std::isfinite(j["final_loss"].get<double>()));
  std::ifstream f(dir + "/profile.json");
  ASSERT_TRUE(f.good());
  auto p = nlohmann::json::parse(f)["profile"];
  EXPECT_FALSE(p["by_kernel"].empty());
  EXPECT_GT(p["step_ms"].get<double>(), 0);
}

// Two processes (Gloo on the CPU): one JSON record from rank 0, with the per-process speed and
// the scaling efficiency against the same step without the all-reduce.
TEST(BenchTrain, TwoProcessesReportScaling) {
  auto r = run_cli("bench train --config " + shipped_config_path("oryx-gdn-tiny") +
                       " --batch-size 2 --seq-len 64 --steps 2 --warmup 1 --device cpu --json --nproc-per-node 2",
                   300);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);  // one record: the other rank prints nothing
  EXPECT_EQ(j["processes"], 2);
  EXPECT_NEAR(j["tokens_per_s"].get<double>(), 2 * j["tokens_per_s_per_gpu"].get<double>(), 1e-6);
  EXPECT_GT(j["step_ms_alone"].get<double>(), 0);
  EXPECT_NEAR(j["scaling_efficiency"].get<double>(), j["step_ms_alone"].get<double>() / j["step_ms"].get<double>(),
              1e-9);
}

TEST(BenchTrain, FixedScheduleAndBaselines) {
  auto fixed = run_cli("bench train --config " + shipped_config_path("oryx-mamba2-tiny") +
                       " --batch-size 1 --seq-len 128 --steps 1 --warmup 0 --device cpu --schedule every:4:16 --json");
  ASSERT_EQ(fixed.exit_code, 0) << fixed.err;
  EXPECT_DOUBLE_EQ(nlohmann::json::parse(fixed.out)["attention_fraction"].get<double>(), 0.25);
  auto text = run_cli("bench train --config " + shipped_config_path("transformer-tiny") +
                      " --batch-size 1 --seq-len 32 --steps 1 --device cpu");
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("tokens/s"), std::string::npos) << text.out;
}

TEST(BenchTrain, BadSettingsExitTwoWithOneLine) {
  for (const std::string args :
       {"--schedule all-L --batch-size 1 --seq-len 32", "--batch-size 0 --seq-len 32", "--seq-len 100000000",
        "--batch-size 100000000 --seq-len 1000", "--steps 0 --seq-len 32", "--precision fp8 --seq-len 32",
        "--precision bf16 --seq-len 32"}) {
    auto r = run_cli("bench train --config " + shipped_config_path("transformer-tiny") + " --device cpu " + args);
    EXPECT_EQ(r.exit_code, 2) << args << ": " << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << args << ": " << r.err;
  }
}

// A transformer in all-A: 6 x (parameters - embedding table) per token, plus causal
// attention 6 H (K + V) (t + 1) per layer and query position t.
TEST(BenchTrain, FlopFormulaMatchesHandCount) {
  auto c = shipped_config("transformer-tiny");
  auto model = model_create(c, 0);
  auto counts = param_counts(*model);
  const int64_t B = 2, T = 10;
  auto modes = torch::ones({B, T}, torch::kBool);
  double embed = static_cast<double>(c.vocab_size * c.d_model);
  double matmul = 6.0 * (static_cast<double>(counts.total) - (c.tie_embeddings ? 0 : embed)) * B * T;
  double keys = B * T * (T + 1) / 2.0;  // sum over queries of (t + 1)
  double attention = c.n_layers * 6.0 * c.n_heads * (c.head_dim_k + c.head_dim_v) * keys;
  EXPECT_DOUBLE_EQ(bench::train_step_flops(c, counts, c.vocab_size * c.d_model, modes), matmul + attention);
  // Mode L tokens of an Oryx model add no attention FLOPs, and the recurrence adds the same
  // amount per token whatever the mode.
  auto o = shipped_config("oryx-gdn-tiny");
  auto om = model_create(o, 0);
  auto oc = param_counts(*om);
  auto all_l = torch::zeros({B, T}, torch::kBool);
  auto one_a = all_l.clone();
  one_a[0][3] = true;
  double extra = bench::train_step_flops(o, oc, o.vocab_size * o.d_model, one_a) -
                 bench::train_step_flops(o, oc, o.vocab_size * o.d_model, all_l);
  EXPECT_DOUBLE_EQ(extra, 6.0 * oc.attention_only + o.n_layers * 6.0 * o.n_heads * (o.head_dim_k + o.head_dim_v) * 4);
}

}  // namespace
}  // namespace oryx::testing
