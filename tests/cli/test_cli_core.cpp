// The CLI of the core issue: `oryx info` and `oryx generate` work end to end, and bad input
// makes the CLI exit 2 with one line on stderr.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "oryx/checkpoint/weights.h"
#include "oryx/model/model.h"
#include "support/models.h"

namespace oryx::testing {
namespace {

int count_lines(const std::string& s) {
  int n = 0;
  for (char ch : s) n += ch == '\n';
  return n;
}

void expect_one_line_error(const CliResult& r, const std::string& needle) {
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("oryx: error: "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(needle), std::string::npos) << "stderr '" << r.err << "' lacks '" << needle << "'";
}

TEST(CliCore, InfoPrintsSharedFraction) {
  auto r = run_cli("info --config " + shipped_config_path("oryx-gdn-125m") + " --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_GE(j["shared_fraction"].get<double>(), 0.90);
  EXPECT_EQ(j["params"]["total"].get<int64_t>(),
            j["params"]["shared"].get<int64_t>() + j["params"]["attention_only"].get<int64_t>() +
                j["params"]["linear_only"].get<int64_t>());
  auto text = run_cli("info --config " + shipped_config_path("oryx-mamba2-tiny"));
  ASSERT_EQ(text.exit_code, 0);
  EXPECT_NE(text.out.find("shared fraction"), std::string::npos);
}

TEST(CliCore, GenerateRunsPrefillAndDecode) {
  auto r = run_cli("generate --config " + shipped_config_path("oryx-gdn-tiny") +
                   " --tokens 5,6,7,8,9 --schedule last:2 --max-new 6 --seed 3 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["tokens"].size(), 6u);
  EXPECT_EQ(j["modes"].get<std::string>(), "LLLAAAAAAA");  // 5 prompt + 5 fed generated tokens
  // Same seed, same tokens; greedy decoding too.
  auto again = run_cli("generate --config " + shipped_config_path("oryx-gdn-tiny") +
                       " --tokens 5,6,7,8,9 --schedule last:2 --max-new 6 --seed 3 --json");
  EXPECT_EQ(nlohmann::json::parse(again.out)["tokens"], j["tokens"]);
  auto text = run_cli("generate --config " + shipped_config_path("oryx-mamba2-tiny") +
                      " --prompt hello --schedule every:2:2 --max-new 4 --temperature 0.8 --top-k 20 --top-p 0.9");
  EXPECT_EQ(text.exit_code, 0) << text.err;
}

// --precision picks the weights' dtype (auto: bf16 on CUDA only); --json reports the cold
// start: from the process's start to the command, the model's load, the first token.
TEST(CliCore, GeneratePrecisionAndColdStartTimings) {
  const std::string base = "generate --config " + shipped_config_path("oryx-gdn-tiny") +
                           " --tokens 5,6,7,8,9 --max-new 4 --temperature 0 --device cpu --json";
  auto fp32 = run_cli(base);
  auto bf16 = run_cli(base + " --precision bf16");
  ASSERT_EQ(fp32.exit_code, 0) << fp32.err;
  ASSERT_EQ(bf16.exit_code, 0) << bf16.err;
  EXPECT_EQ(nlohmann::json::parse(run_cli(base + " --precision auto").out)["tokens"],
            nlohmann::json::parse(fp32.out)["tokens"]);  // auto is fp32 on the CPU
  auto j = nlohmann::json::parse(bf16.out);
  EXPECT_EQ(j["tokens"].size(), 4u);
  const auto& t = j["timings_ms"];
  EXPECT_GT(t["model_load"].get<double>(), 0);
  EXPECT_GE(t["first_token_since_process_start"].get<double>(),
            t["process_start_to_command"].get<double>() + t["model_load"].get<double>());
  expect_one_line_error(run_cli(base + " --precision fp8"), "--precision must be auto, fp32 or bf16");
}

TEST(CliCore, BadInputExitsTwoWithOneLine) {
  auto dir = make_temp_dir("cli-bad");
  std::ofstream(dir + "/malformed.json") << "{\"kind\": ";
  std::ofstream(dir + "/unknown.json") << R"({"vocab_size": 64, "d_model": 32, "n_layers": 1, "n_heads": 2, "wat": 1})";
  std::ofstream(dir + "/heads.json") << R"({"vocab_size": 64, "d_model": 30, "n_layers": 1, "n_heads": 4})";
  std::ofstream(dir + "/truncated.safetensors") << "abc";
  std::string tiny = shipped_config_path("oryx-gdn-tiny");
  expect_one_line_error(run_cli("info --config " + dir + "/malformed.json"), "malformed JSON");
  expect_one_line_error(run_cli("info --config " + dir + "/unknown.json"), "unknown key 'wat'");
  expect_one_line_error(run_cli("info --config " + dir + "/heads.json"), "not divisible");
  expect_one_line_error(run_cli("info --config " + dir + "/missing.json"), "cannot open config file");
  expect_one_line_error(run_cli("info --bogus-flag"), "bogus-flag");
  expect_one_line_error(run_cli("generate --config " + tiny + " --tokens 1,999"), "token id 999 is out of range");
  expect_one_line_error(run_cli("generate --config " + tiny + " --tokens 1,2 --max-new 2000"), "max_seq_len");
  expect_one_line_error(run_cli("generate --config " + tiny + " --tokens 1,x"), "not an integer");
  expect_one_line_error(run_cli("generate --config " + tiny + " --tokens 1,2 --schedule sometimes"), "unknown schedule");
  expect_one_line_error(run_cli("generate --config " + tiny + " --tokens 1,2 --schedule mask:AL --top-p 0"), "--top-p");
  // A config naming a truncated weights file.
  std::ofstream(dir + "/with-weights.json")
      << R"({"vocab_size": 64, "d_model": 32, "n_layers": 1, "n_heads": 2, "weights": "truncated.safetensors"})";
  expect_one_line_error(run_cli("generate --config " + dir + "/with-weights.json --tokens 1 --schedule all-A"),
                        "truncated.safetensors");
}

TEST(CliCore, NonFiniteWeightsAreRefusedNamingTensorAndFile) {
  auto dir = make_temp_dir("cli-nan");
  std::ofstream(dir + "/nan.json")
      << R"({"vocab_size": 64, "d_model": 32, "n_layers": 1, "n_heads": 2, "weights": "nan.safetensors"})";
  auto cfg = config_load(dir + "/nan.json");
  cfg.weights.clear();
  auto model = model_create(cfg, 1);
  {
    torch::NoGradGuard no_grad;
    model->named_parameters()["final_norm"][5] = NAN;
  }
  weights_save(*model, dir + "/nan.safetensors");
  // Before this check, greedy decoding of such a model printed token 0 over and over.
  expect_one_line_error(run_cli("generate --config " + dir + "/nan.json --tokens 1,2 --temperature 0"),
                        "nan.safetensors: tensor 'final_norm' holds NaN or Inf values");
}

}  // namespace
}  // namespace oryx::testing
