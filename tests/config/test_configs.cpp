// The shipped configs: they parse, the Oryx ones share at least 90% of their parameters
// between the modes, and at each size the baselines and the Oryx models have nearly equal
// parameter counts (the paper compares at equal parameter count). Plus config validation.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "oryx/common/error.h"
#include "oryx/common/json_parse.h"
#include "oryx/config/param_count.h"
#include "oryx/model/model.h"
#include "oryx/model/params.h"
#include "support/models.h"

namespace oryx::testing {
namespace {

const char* kModels[] = {"transformer", "gdn", "mamba2", "oryx-gdn", "oryx-mamba2"};
const char* kSizes[] = {"tiny", "1m", "125m", "350m"};

// Counting parameters needs no weights: the counts follow from the config's shapes
// (ParamCount.* below checks that they equal an allocated model's).
ParamCounts counts_of(const std::string& name) { return config_param_counts(shipped_config(name)); }

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

// Loads the config at `path` and returns the error message ("" if it parsed).
std::string config_error_at(const std::string& path) {
  try {
    config_load(path);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// Parses `text` as a config and returns the error message ("" if it parsed).
std::string config_error(const std::string& text) {
  auto dir = make_temp_dir("cfg");
  std::string path = dir + "/c.json";
  std::ofstream(path) << text;
  return config_error_at(path);
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

// config_param_counts is what `oryx info`, study reports and config validation use: role by
// role it must equal what an allocated model holds, for every shipped config and for the keys
// that add or remove parameters.
void expect_counts_equal(const ModelConfig& c, const std::string& label) {
  torch::manual_seed(0);
  OryxModel m(c);
  ParamCounts allocated = param_counts(*m), arithmetic = config_param_counts(c);
  EXPECT_EQ(arithmetic.total, allocated.total) << label;
  EXPECT_EQ(arithmetic.shared, allocated.shared) << label;
  EXPECT_EQ(arithmetic.attention_only, allocated.attention_only) << label;
  EXPECT_EQ(arithmetic.linear_only, allocated.linear_only) << label;
}

// 350m is left out to keep the test fast: its shapes exercise no term the others do not.
TEST(ParamCount, ArithmeticEqualsAllocatedModelForShippedConfigs) {
  for (const char* size : {"tiny", "1m", "125m"})
    for (const char* model : kModels) {
      std::string name = std::string(model) + "-" + size;
      expect_counts_equal(shipped_config(name), name);
    }
}

TEST(ParamCount, ArithmeticEqualsAllocatedModelForEveryShapeKey) {
  const std::string base = R"("vocab_size": 70, "d_model": 24, "n_layers": 2, "n_heads": 3)";
  for (const char* extra :
       {R"("kind": "oryx", "linear": "gdn")", R"("kind": "oryx", "linear": "mamba2")",
        R"("kind": "transformer")", R"("kind": "linear", "linear": "gdn")", R"("kind": "linear", "linear": "mamba2")",
        R"("share_q": true)", R"("separate_out_norm": true, "linear": "mamba2")", R"("tie_embeddings": true)",
        R"("qk_norm": false, "kind": "transformer")", R"("head_dim_k": 6, "head_dim_v": 10)",
        R"("mlp_hidden": 40, "conv_kernel": 3)", R"("mlp_ratio": 2.5, "rope": false, "head_dim_k": 5)"}) {
    std::string text = "{" + base + ", " + extra + "}";
    expect_counts_equal(config_from_json(nlohmann::json::parse(text), "test"), text);
  }
}

// Every size is bounded before anything is allocated or looped over: each of these used to
// abort in libtorch's allocator, hang building layers, or crash as an internal error.
TEST(ConfigValidation, RefusesSizesPastTheirBounds) {
  auto expect_error = [](const std::string& keys, const std::string& needle) {
    std::string err = config_error("{" + keys + "}");
    EXPECT_NE(err.find(needle), std::string::npos) << keys << ": error '" << err << "' lacks '" << needle << "'";
  };
  const std::string ok = R"("vocab_size": 64, "n_layers": 1, "n_heads": 2)";
  expect_error(ok + R"(, "d_model": 1000000000000)", "key 'd_model' must be an integer in [1, 65536]");
  expect_error(ok + R"(, "d_model": 32, "head_dim_k": 1099511627776)", "key 'head_dim_k'");
  expect_error(R"("vocab_size": 2147483648, "d_model": 32, "n_layers": 1, "n_heads": 2)", "key 'vocab_size'");
  expect_error(ok + R"(, "d_model": 32, "chunk_size": 1099511627776)", "key 'chunk_size'");
  expect_error(R"("vocab_size": 64, "d_model": 32, "n_layers": 1000000000, "n_heads": 2)", "key 'n_layers'");
  expect_error(ok + R"(, "d_model": 32, "max_seq_len": 1099511627776)", "key 'max_seq_len'");
  expect_error(ok + R"(, "d_model": 32, "mlp_ratio": 1e300)", "key 'mlp_ratio'");
  expect_error(ok + R"(, "d_model": 32, "mlp_hidden": 1099511627776)", "key 'mlp_hidden'");
  expect_error(ok + R"(, "d_model": 32, "conv_kernel": 1000000)", "key 'conv_kernel'");
  expect_error(ok + R"(, "d_model": 32, "init_std": 1e300)", "key 'init_std'");
  expect_error(ok + R"(, "d_model": 32, "rope_theta": 1e400)", "malformed JSON");
  expect_error(ok + R"(, "d_model": 18446744073709551615)", "key 'd_model'");
  // Each size within bounds, the product not: 2^24 x 65536 x 2 embedding parameters.
  expect_error(R"("vocab_size": 16777216, "d_model": 65536, "n_layers": 1, "n_heads": 512)",
               "parameters, more than the 20000000000 allowed");
}

// nlohmann's parser keeps the last of two equal keys; a config must not lose one silently.
TEST(ConfigValidation, RefusesDuplicateKeys) {
  EXPECT_NE(config_error(R"({"vocab_size": 64, "d_model": 32, "d_model": 64, "n_layers": 1, "n_heads": 2})")
                .find("key 'd_model' appears twice"),
            std::string::npos);
  // Equal keys in different objects are no duplicates; in one nested object they are.
  std::istringstream nested(R"({"a": {"x": 1}, "b": {"x": 2}})");
  EXPECT_NO_THROW(json_parse_strict(nested, "nested"));
  std::istringstream twice(R"({"a": {"x": 1, "x": 2}})");
  EXPECT_THROW(json_parse_strict(twice, "twice"), Error);
}

TEST(ConfigValidation, RefusesAFolderAsConfigFile) {
  auto dir = make_temp_dir("cfg-folder");
  EXPECT_NE(config_error_at(dir).find("is a folder"), std::string::npos) << config_error_at(dir);
}

TEST(ConfigValidation, RoundTripsThroughJson) {
  auto c = shipped_config("oryx-mamba2-tiny");
  auto again = config_from_json(config_to_json(c), "round trip");
  EXPECT_EQ(config_to_json(again).dump(), config_to_json(c).dump());
}

}  // namespace
}  // namespace oryx::testing
