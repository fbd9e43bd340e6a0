// The shipped configs: they parse, the Oryx ones share at least 90% of their parameters
// between the modes, and at each size the baselines and the Oryx models have nearly equal
// parameter counts (the paper compares at equal parameter count). Plus config validation.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "oryx/common/error.h"
#include "oryx/model/model.h"
#include "oryx/model/params.h"
#include "support/models.h"

namespace oryx::testing {
namespace {

const char* kModels[] = {"transformer", "gdn", "mamba2", "oryx-gdn", "oryx-mamba2"};
const char* kSizes[] = {"tiny", "1m", "125m", "350m"};

// Counting parameters of a 350M model needs no weights: build on the meta device.
ParamCounts counts_of(const std::string& name) {
  auto cfg = shipped_config(name);
  torch::manual_seed(0);
  OryxModel m(cfg);
  return param_counts(*m);
}

TEST(ShippedConfigs, OryxSharedFractionAtLeast90Percent) {
  for (const char* size : kSizes)
    for (const char* model : {"oryx-gdn", "oryx-mamba2"}) {
      std::string name = std::string(model) + "-" + size;
      auto c = counts_of(name);
      EXPECT_GE(c.shared_fraction(), 0.90) << name;
      EXPECT_GT(c.attention_only, 0) << name;
      EXPECT_GT(c.linear_only, 0) << name;
    }
}

TEST(ShippedConfigs, BaselinesMatchOryxParameterCount) {
  for (const char* size : kSizes) {
    int64_t ref = counts_of(std::string("oryx-gdn-") + size).total;
    for (const char* model : kModels) {
      std::string name = std::string(model) + "-" + size;
      auto c = counts_of(name);
      EXPECT_NEAR(static_cast<double>(c.total) / ref, 1.0, 0.005) << name << " " << c.total << " vs " << ref;
      if (std::string(model) == "transformer") {
        EXPECT_EQ(c.linear_only, 0);
      }
      if (std::string(model) == "gdn" || std::string(model) == "mamba2") {
        EXPECT_EQ(c.attention_only, 0);
      }
    }
  }
}

TEST(ShippedConfigs, SizesAreAsNamed) {
  EXPECT_NEAR(counts_of("oryx-gdn-1m").total / 1e6, 1.08, 0.05);
  EXPECT_NEAR(counts_of("oryx-gdn-125m").total / 1e6, 125, 10);
  EXPECT_NEAR(counts_of("oryx-gdn-350m").total / 1e6, 350, 15);
}

// Parses `text` as a config and returns the error message ("" if it parsed).
std::string config_error(const std::string& text) {
  auto dir = make_temp_dir("cfg");
  std::string path = dir + "/c.json";
  std::ofstream(path) << text;
  try {
    config_load(path);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

const std::string kGood = R"({"kind": "oryx", "linear": "gdn", "vocab_size": 64, "d_model": 32,
  "n_layers": 1, "n_heads": 2})";

TEST(ConfigValidation, AcceptsMinimalConfigWithDefaults) {
  EXPECT_EQ(config_error(kGood), "");
  auto dir = make_temp_dir("cfg");
  std::ofstream(dir + "/c.json") << kGood;
  auto c = config_load(dir + "/c.json");
  EXPECT_EQ(c.head_dim_k, 16);
  EXPECT_EQ(c.head_dim_v, 16);
  EXPECT_EQ(c.mlp_hidden, 128);
}

TEST(ConfigValidation, RejectsBadInputWithKeyInMessage) {
  auto expect_error = [](const std::string& text, const std::string& needle) {
    std::string err = config_error(text);
    EXPECT_NE(err.find(needle), std::string::npos) << "error '" << err << "' lacks '" << needle << "'";
  };
  expect_error("{\"kind\": \"oryx\",", "malformed JSON");
  expect_error(R"({"kind": "oryx", "vocab_size": 64, "d_model": 32, "n_layers": 1, "n_heads": 2, "colour": 3})",
               "unknown key 'colour'");
  expect_error(R"({"vocab_size": 64, "d_model": 30, "n_layers": 1, "n_heads": 4})", "not divisible by n_heads");
  expect_error(R"({"vocab_size": 64, "d_model": 32, "n_layers": 0, "n_heads": 2})", "key 'n_layers'");
  expect_error(R"({"vocab_size": "many", "d_model": 32, "n_layers": 1, "n_heads": 2})", "key 'vocab_size'");
  expect_error(R"({"vocab_size": 64, "d_model": 32, "n_layers": 1, "n_heads": 2, "kind": "rnn"})", "key 'kind'");
  expect_error(R"({"vocab_size": 64, "d_model": 32, "n_layers": 1, "n_heads": 2, "head_dim_k": 15})",
               "must be even when rope");
  expect_error(R"({"kind": "transformer", "linear": "gdn", "vocab_size": 64, "d_model": 32, "n_layers": 1, "n_heads": 2})",
               "key 'linear'");
  expect_error(R"({"vocab_size": 64, "d_model": 32, "n_heads": 2})", "key 'n_layers' is required");
  expect_error("[1, 2]", "expected a JSON object");
}

TEST(ConfigValidation, RoundTripsThroughJson) {
  auto c = shipped_config("oryx-mamba2-tiny");
  auto again = config_from_json(config_to_json(c), "round trip");
  EXPECT_EQ(config_to_json(again).dump(), config_to_json(c).dump());
}

}  // namespace
}  // namespace oryx::testing
