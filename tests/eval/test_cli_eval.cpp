// `oryx eval` end to end: JSON rows that state their attention fraction, a schedule sweep
// with its summary, the human table, and bad task files reported as one line naming
// file:line with exit code 2.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "support/models.h"
#include "support/temp_dir.h"

namespace oryx::testing {
namespace {

int count_lines(const std::string& s) {
  int n = 0;
  for (char ch : s) n += ch == '\n';
  return n;
}

const std::string kTiny = " --config " + shipped_config_path("oryx-gdn-tiny");

TEST(CliEval, MqarSweepPrintsJsonWithAttentionFraction) {
  auto r = run_cli("eval" + kTiny + " --task mqar --pairs 2,4 --n 4 --seq-len 32 --vocab 64"
                   " --schedules 'all-L;last:8;all-A' --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["task"], "mqar");
  ASSERT_EQ(j["rows"].size(), 6u);
  for (const auto& row : j["rows"]) {
    ASSERT_TRUE(row.contains("attention_fraction")) << row.dump();
    ASSERT_TRUE(row.contains("schedule")) << row.dump();
  }
  EXPECT_EQ(j["rows"][0]["attention_fraction"].get<double>(), 0.0);
  EXPECT_EQ(j["rows"][2]["attention_fraction"].get<double>(), 0.25);
  EXPECT_EQ(j["rows"][5]["attention_fraction"].get<double>(), 1.0);
  ASSERT_EQ(j["summary"].size(), 3u);
  EXPECT_EQ(j["summary"][1]["schedule"], "last:8");
  EXPECT_EQ(j["summary"][1]["examples"].get<int64_t>(), 8);
  EXPECT_EQ(j["settings"]["pairs"], nlohmann::json::array({2, 4}));
}

TEST(CliEval, McAndKvPrintTables) {
  TempDir dir;
  std::ofstream(dir.file("tiny.jsonl"))
      << R"({"doc_id": 0, "idx": 0, "label": 0, "request": {"context": "2+2=", "continuation": "4"}})" << "\n"
      << R"({"doc_id": 0, "idx": 1, "label": 0, "request": {"context": "2+2=", "continuation": "5"}})" << "\n";
  auto mc = run_cli("eval" + kTiny + " --task mc --data " + dir.file("tiny.jsonl") + " --schedule last:2");
  ASSERT_EQ(mc.exit_code, 0) << mc.err;
  EXPECT_NE(mc.out.find("acc_norm"), std::string::npos) << mc.out;
  EXPECT_NE(mc.out.find("last:2"), std::string::npos) << mc.out;
  auto kv = run_cli("eval" + kTiny + " --task kv --lines 3 --depths 0,1 --n 2 --schedule all-A");
  ASSERT_EQ(kv.exit_code, 0) << kv.err;
  EXPECT_NE(kv.out.find("attn_frac"), std::string::npos) << kv.out;
}

TEST(CliEval, BadTaskFileIsOneLineNamingFileAndLine) {
  TempDir dir;
  const std::string path = dir.file("arc.jsonl");
  std::ofstream(path)
      << R"({"doc_id": 0, "idx": 0, "label": 0, "request": {"context": "Q", "continuation": " a"}})" << "\n"
      << R"({"doc_id": 0, "idx": 1, "label": 0, "request": {"context": "Q"}})" << "\n";
  auto r = run_cli("eval" + kTiny + " --task mc --data " + path);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find(path + ":2: missing field 'request.continuation'"), std::string::npos) << r.err;
  auto missing = run_cli("eval" + kTiny + " --task niah");
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.err.find("--data"), std::string::npos) << missing.err;
}

}  // namespace
}  // namespace oryx::testing
