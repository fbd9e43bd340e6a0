// Reading `oryx generate --prompts` files (generate/prompts_file.h): every bad line is one
// oryx::Error naming FILE:LINE and what is wrong; per-line keys override the defaults.
#include <gtest/gtest.h>

#include <fstream>

#include "oryx/common/error.h"
#include "oryx/generate/prompts_file.h"
#include "support/models.h"
#include "support/temp_dir.h"

namespace oryx::testing {
namespace {

std::string read_error(const std::string& path, const ModelConfig& c, const Tokenizer* tok) {
  try {
    prompts_file_read(path, c, tok, {});
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(PromptsFile, BadLineNamesFileAndLine) {
  TempDir dir;
  auto cfg = shipped_config("transformer-tiny");
  ByteTokenizer bytes;
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"tokens": [1, 2])", "malformed JSON"},
      {R"({"tokens": [1], "tokens": [2]})", "appears twice"},
      {R"({"tokens": [1], "prompt": "hi"})", "exactly one of \"prompt\" and \"tokens\""},
      {R"({"max_new": 3})", "exactly one of"},
      {R"({"tokens": [1, 999]})", "token id 999 is out of range"},
      {R"({"tokens": [1, -3]})", "token id -3 is out of range"},
      {R"({"tokens": [1, 2.5]})", "not an integer id"},
      {R"({"tokens": []})", "non-empty array"},
      {R"({"prompt": ""})", "encodes to no tokens"},
      {R"({"tokens": [1], "schedule": "sometimes"})", "unknown schedule"},
      {R"({"tokens": [1, 2], "schedule": "mask:A"})", "schedule mask has 1"},
      {R"({"tokens": [1], "schedule": "all-L"})", "mode L, but model 'transformer-tiny' is a transformer"},
      {R"({"tokens": [1], "schedule": "all-A,gen=L", "max_new": 2})", "mode L"},
      {R"({"tokens": [1], "tokens_": 1})", "unknown key 'tokens_'"},
      {R"({"tokens": [1, 2], "max_new": 1024})", "exceed the model's max_seq_len of 1024"},
      {R"({"tokens": [1], "max_new": -1})", "\"max_new\" -1 is out of range"},
      {R"({"tokens": [1], "max_new": "3"})", "\"max_new\" must be an integer"},
      {R"({"tokens": [1], "seed": 1e3})", "\"seed\" must be an integer"},
      {R"({"tokens": [1], "stop": ""})", "stop string is empty"},
      {R"({"tokens": [1], "stop": [1]})", "not a string"},
      {R"({"tokens": [1], "id": [1]})", "\"id\" must be a string or a number"},
      {R"([1, 2])", "expected a JSON object"},
  };
  for (const auto& [line, needle] : cases) {
    SCOPED_TRACE(line);
    auto path = dir.file("bad.jsonl");
    std::ofstream(path) << "{\"tokens\": [1, 2]}\n\n" << line << "\n";
    auto err = read_error(path, cfg, &bytes);
    EXPECT_EQ(err.rfind(path + ":3: ", 0), 0u) << err;
    EXPECT_NE(err.find(needle), std::string::npos) << err;
    EXPECT_EQ(err.find('\n'), std::string::npos) << err;
  }
  // Text and stop strings need a tokenizer.
  std::ofstream(dir.file("text.jsonl")) << R"({"prompt": "hi"})" << "\n";
  EXPECT_NE(read_error(dir.file("text.jsonl"), cfg, nullptr).find(":1: \"prompt\" needs a tokenizer"),
            std::string::npos);
  std::ofstream(dir.file("stop.jsonl")) << R"({"tokens": [1], "stop": "x"})" << "\n";
  EXPECT_NE(read_error(dir.file("stop.jsonl"), cfg, nullptr).find("stop strings need a tokenizer"),
            std::string::npos);
  std::ofstream(dir.file("empty.jsonl")) << "\n \n";
  EXPECT_NE(read_error(dir.file("empty.jsonl"), cfg, &bytes).find("holds no prompts"), std::string::npos);
}

TEST(PromptsFile, LineKeysOverrideTheDefaults) {
  TempDir dir;
  auto cfg = shipped_config("oryx-gdn-tiny");
  ByteTokenizer bytes;
  std::ofstream(dir.file("p.jsonl")) << R"({"prompt": "hi", "id": "x"})" << "\n"
                                     << R"({"tokens": [3, 4, 5], "schedule": "last:1", "max_new": 2, )"
                                     << R"("stop": ["a", "b"], "seed": 9, "id": 4})" << "\r\n";
  PromptsFileDefaults d{"all-L", 7, {"z"}, 3};
  auto lines = prompts_file_read(dir.file("p.jsonl"), cfg, &bytes, d);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0].request.prompt, (std::vector<int64_t>{'h', 'i'}));
  EXPECT_EQ(lines[0].request.schedule.describe(), schedule_parse("all-L").describe());
  EXPECT_EQ(lines[0].request.max_new, 7);
  EXPECT_EQ(lines[0].request.stop, std::vector<std::string>{"z"});
  EXPECT_EQ(lines[0].request.seed, 3u);
  EXPECT_EQ(lines[0].id, "x");
  EXPECT_EQ(lines[1].line, 2);
  EXPECT_EQ(lines[1].request.schedule.describe(), schedule_parse("last:1").describe());
  EXPECT_EQ(lines[1].request.max_new, 2);
  EXPECT_EQ(lines[1].request.stop, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(lines[1].request.seed, 9u);
  EXPECT_EQ(lines[1].id, 4);
}

}  // namespace
}  // namespace oryx::testing
