// `oryx info` counts parameters from the config's shapes: a model far too large for this
// machine answers at once (it used to be allocated just to be counted), and a single-mode
// model reports only the mode it has.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "support/models.h"
#include "support/temp_dir.h"

namespace oryx::testing {
namespace {

TEST(CliInfo, CountsAHugeModelWithoutAllocatingIt) {
  TempDir dir;
  // About 17.7 billion parameters: 70 GB in fp32, within the 20-billion bound.
  std::ofstream(dir.file("huge.json"))
      << R"({"kind": "transformer", "vocab_size": 1048576, "d_model": 4096, "n_layers": 32, "n_heads": 32})";
  const CliResult r = run_cli("info --json --config " + dir.file("huge.json"), 60);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto params = nlohmann::json::parse(r.out)["params"];
  EXPECT_GT(params["total"].get<int64_t>(), 17'000'000'000);
  EXPECT_LT(params["total"].get<int64_t>(), 18'000'000'000);
}

TEST(CliInfo, SingleModeModelsReportOnlyTheirMode) {
  const CliResult transformer = run_cli("info --config " + shipped_config_path("transformer-tiny"));
  ASSERT_EQ(transformer.exit_code, 0) << transformer.err;
  EXPECT_NE(transformer.out.find("mode A uses"), std::string::npos) << transformer.out;
  EXPECT_EQ(transformer.out.find("mode L uses"), std::string::npos) << transformer.out;
  const CliResult linear = run_cli("info --json --config " + shipped_config_path("gdn-tiny"));
  ASSERT_EQ(linear.exit_code, 0) << linear.err;
  const auto params = nlohmann::json::parse(linear.out)["params"];
  EXPECT_TRUE(params.contains("used_by_linear_mode"));
  EXPECT_FALSE(params.contains("used_by_attention_mode"));
  const CliResult oryx = run_cli("info --json --config " + shipped_config_path("oryx-gdn-tiny"));
  ASSERT_EQ(oryx.exit_code, 0) << oryx.err;
  const auto both = nlohmann::json::parse(oryx.out)["params"];
  EXPECT_TRUE(both.contains("used_by_linear_mode") && both.contains("used_by_attention_mode"));
}

}  // namespace
}  // namespace oryx::testing
