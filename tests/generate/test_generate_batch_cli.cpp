// `oryx generate --prompts FILE.jsonl`: one JSON line per prompt in the file's order, each with
// exactly the tokens `oryx generate --tokens/--prompt` gives that prompt alone; --stop works the
// same on both paths; --out is never replaced without --overwrite; a bad line exits 2 with
// one line naming FILE:LINE.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "support/models.h"
#include "support/temp_dir.h"

namespace oryx::testing {
namespace {

using nlohmann::json;

std::vector<json> jsonl(const std::string& text) {
  std::vector<json> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(json::parse(line));
  return out;
}

std::string ids_csv(const json& ids) {
  std::string s;
  for (const auto& id : ids) s += (s.empty() ? "" : ",") + std::to_string(id.get<int64_t>());
  return s;
}

json ids_of_length(int64_t n, int64_t offset) {
  json a = json::array();
  for (int64_t i = 0; i < n; ++i) a.push_back((offset + 37 * i) % 500);
  return a;
}

void write_lines(const std::string& path, const std::vector<std::string>& lines) {
  std::ofstream out(path);
  for (const auto& l : lines) out << l << "\n";
}

void expect_one_line_error(const CliResult& r, const std::string& needle) {
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find("oryx: error: "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(needle), std::string::npos) << "stderr '" << r.err << "' lacks '" << needle << "'";
}

TEST(CliGenerateBatch, PromptsFileMatchesOnePromptRuns) {
  TempDir dir;
  const std::string model = "--config " + shipped_config_path("oryx-gdn-tiny") + " --temperature 0";
  std::vector<json> lines = {
      {{"tokens", ids_of_length(1, 3)}, {"schedule", "all-L"}, {"max_new", 5}, {"id", "a"}},
      {{"tokens", ids_of_length(5, 8)}, {"schedule", "mask:ALLAL"}, {"max_new", 3}, {"id", 7}},
      {{"tokens", ids_of_length(17, 1)}, {"schedule", "every:2:4"}},
      {{"tokens", ids_of_length(33, 5)}, {"schedule", "last:3,gen=L"}, {"max_new", 2}},
      {{"prompt", "hello"}, {"max_new", 4}},
  };
  std::vector<std::string> text;
  for (const auto& l : lines) text.push_back(l.dump());
  text.insert(text.begin() + 2, "");  // blank lines are skipped
  write_lines(dir.file("prompts.jsonl"), text);
  auto r = run_cli("generate " + model + " --prompts " + dir.file("prompts.jsonl") +
                   " --max-new 6 --schedule last:2 --batch-size 3");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto out = jsonl(r.out);
  ASSERT_EQ(out.size(), lines.size()) << r.out;
  for (size_t i = 0; i < lines.size(); ++i) {
    const auto& in = lines[i];
    const auto& o = out[i];
    EXPECT_EQ(o["index"], i);
    if (in.contains("id")) EXPECT_EQ(o["id"], in["id"]);
    else EXPECT_FALSE(o.contains("id"));
    std::string schedule = in.value("schedule", "last:2");
    std::string input = in.contains("tokens") ? "--tokens " + ids_csv(in["tokens"]) : "--prompt hello";
    auto alone = run_cli("generate " + model + " " + input + " --schedule '" + schedule + "' --max-new " +
                         std::to_string(in.value("max_new", 6)) + " --json");
    ASSERT_EQ(alone.exit_code, 0) << alone.err;
    auto a = json::parse(alone.out);
    EXPECT_EQ(o["tokens"], a["tokens"]) << "line " << i;
    EXPECT_EQ(o["modes"], a["modes"]) << "line " << i;
    EXPECT_EQ(o["text"], a["text"]) << "line " << i;
    EXPECT_EQ(o["stop_reason"], a["stop_reason"]) << "line " << i;
    EXPECT_EQ(o["schedule"], a["schedule"]) << "line " << i;
    EXPECT_EQ(o["prompt_length"], in.contains("tokens") ? in["tokens"].size() : 5u);
  }
}

TEST(CliGenerateBatch, StopStringEndsBothPathsAlike) {
  TempDir dir;
  const std::string model = "--config " + shipped_config_path("transformer-tiny") + " --temperature 0 --max-new 24";
  auto free = run_cli("generate " + model + " --tokens 72,101,108 --json");
  ASSERT_EQ(free.exit_code, 0) << free.err;
  auto free_json = json::parse(free.out);
  std::string text = free_json["text"];
  ASSERT_GE(free_json["tokens"].size(), 6u) << free.out;
  // The stop string: the one byte of the 4th token of the free run.
  std::string stop(1, static_cast<char>(free_json["tokens"][3].get<int64_t>()));
  ASSERT_LT(static_cast<unsigned char>(stop[0]), 128) << "choose a prompt whose 4th token is ASCII";
  write_lines(dir.file("p.jsonl"), {json{{"tokens", {72, 101, 108}}, {"stop", stop}}.dump()});
  auto single = run_cli("generate " + model + " --tokens 72,101,108 --json --stop '" + stop + "'");
  auto batch = run_cli("generate " + model + " --prompts " + dir.file("p.jsonl"));
  ASSERT_EQ(single.exit_code, 0) << single.err;
  ASSERT_EQ(batch.exit_code, 0) << batch.err;
  auto s = json::parse(single.out);
  auto b = jsonl(batch.out).at(0);
  EXPECT_EQ(s["stop_reason"], "stop_string");
  EXPECT_EQ(s["text"], text.substr(0, text.find(stop)));
  EXPECT_LE(s["tokens"].size(), 4u);
  for (const char* key : {"tokens", "text", "stop_reason", "modes"}) EXPECT_EQ(b[key], s[key]) << key;
}

TEST(CliGenerateBatch, OutFileIsReplacedOnlyWithOverwrite) {
  TempDir dir;
  write_lines(dir.file("p.jsonl"), {R"({"tokens": [1, 2]})", R"({"tokens": [3]})"});
  const std::string cmd = "generate --config " + shipped_config_path("gdn-tiny") + " --max-new 2 --prompts " +
                          dir.file("p.jsonl") + " --out " + dir.file("out.jsonl");
  auto first = run_cli(cmd);
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_TRUE(first.out.empty());
  std::ifstream in(dir.file("out.jsonl"));
  std::stringstream written;
  written << in.rdbuf();
  EXPECT_EQ(jsonl(written.str()).size(), 2u);
  expect_one_line_error(run_cli(cmd), "already exists; pass --overwrite");
  EXPECT_EQ(run_cli(cmd + " --overwrite").exit_code, 0);
}

TEST(CliGenerateBatch, BadPromptsFileExitsTwoNamingTheLine) {
  TempDir dir;
  const std::string tiny = "generate --config " + shipped_config_path("transformer-tiny") + " --prompts ";
  // Every check of a line is in PromptsFile.BadLineNamesFileAndLine; here the CLI's answer.
  for (const auto& [line, needle] : std::vector<std::pair<std::string, std::string>>{
           {R"({"tokens": [1, 2])", "malformed JSON"}, {R"({"tokens": [1, 999]})", "token id 999 is out of range"}}) {
    write_lines(dir.file("bad.jsonl"), {R"({"tokens": [1, 2]})", line});
    expect_one_line_error(run_cli(tiny + dir.file("bad.jsonl")), dir.file("bad.jsonl") + ":2: " + needle);
  }
  write_lines(dir.file("empty.jsonl"), {"", "  "});
  expect_one_line_error(run_cli(tiny + dir.file("empty.jsonl")), "holds no prompts");
  expect_one_line_error(run_cli(tiny + dir.file("missing.jsonl")), "missing.jsonl");
  expect_one_line_error(run_cli(tiny + dir.file("empty.jsonl") + " --tokens 1"), "--prompts takes no");
  expect_one_line_error(run_cli("generate --config " + shipped_config_path("transformer-tiny") + " --tokens 1 --out " +
                                dir.file("o.jsonl")),
                        "--out requires --prompts");
}

}  // namespace
}  // namespace oryx::testing
