// One name and one type per idea across the subcommands: the batch flag is --batch-size
// everywhere (eval keeps --batch as a deprecated name), and every seed flag takes the same
// range, [0, 2^63 - 1], and refuses what lies outside it in the same words.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "support/models.h"

namespace oryx::testing {
namespace {

TEST(CliConsistency, EvalTakesBatchSizeAndTheDeprecatedBatch) {
  const std::string eval = "eval --config " + shipped_config_path("oryx-gdn-tiny") +
                           " --task mqar --pairs 2 --n 4 --seq-len 32 --device cpu --json";
  for (const char* flag : {" --batch-size 3", " --batch 3"}) {
    const CliResult r = run_cli(eval + flag);
    ASSERT_EQ(r.exit_code, 0) << flag << "\n" << r.err;
    EXPECT_EQ(nlohmann::json::parse(r.out)["settings"]["batch"], 3) << flag;
  }
}

TEST(CliConsistency, EverySeedFlagTakesTheSameRange) {
  const std::string tiny = shipped_config_path("oryx-gdn-tiny");
  const std::string commands[] = {
      "generate --config " + tiny + " --tokens 1 --seed",
      "generate --config " + tiny + " --tokens 1 --init-seed",
      "eval --config " + tiny + " --task mqar --seed",
      "info --config " + tiny + " --init-seed",
      "train --config " + tiny + " --data mqar --out /nonexistent --tokens 64 --seed",
      "prepare --synthetic 1 --out /nonexistent --synthetic-seed",
  };
  auto expect_refused = [](const std::string& command, const std::string& bad) {
    const CliResult r = run_cli(command + " " + bad);
    EXPECT_EQ(r.exit_code, 2) << command << " " << bad;
    EXPECT_NE(r.err.find("seed: must be an integer in [0, 9223372036854775807], got " + bad), std::string::npos)
        << command << " " << bad << "\n" << r.err;
  };
  for (const auto& c : commands) expect_refused(c, "-1");
  // One flag stored as uint64 and one passed on as a JSON integer, just past the top.
  expect_refused(commands[0], "9223372036854775808");
  expect_refused(commands[4], "9223372036854775808");
  // The top of the range is a seed like any other.
  const CliResult r = run_cli("generate --config " + tiny + " --tokens 1 --max-new 1 --device cpu --seed 9223372036854775807");
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

}  // namespace
}  // namespace oryx::testing
