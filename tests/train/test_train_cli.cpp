// `oryx train` from the command line: switches (--resume, --plot) parse as flags, a run
// sliced with --max-steps resumes to the budget, and bad options are one line, exit 2.
#include <gtest/gtest.h>

#include <filesystem>

#include "support/models.h"
#include "support/temp_dir.h"
#include "train/train_fixture.h"

namespace oryx::testing {
namespace {

TEST(TrainCli, SwitchesParseAndASlicedRunResumesToTheBudget) {
  TempDir dir;
  const std::string base = "train --config " + shipped_config_path("oryx-gdn-tiny") + " --data " +
                           synthetic_dataset_dir() + " --out " + dir.file("run") +
                           " --tokens 1024 --batch-size 2 --seq-len 64 --eval-windows 2 --threads 1 --device cpu";
  auto r = run_cli(base + " --max-steps 3 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("\"finished\": false"), std::string::npos) << r.out;
  // Without --resume an existing checkpoint is refused; with it the run finishes.
  r = run_cli(base);
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_NE(r.err.find("--resume"), std::string::npos) << r.err;
  r = run_cli(base + " --resume --plot --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("\"finished\": true"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"tokens\": 1024"), std::string::npos) << r.out;
  EXPECT_TRUE(std::filesystem::exists(dir.file("run/loss.png")));
}

TEST(TrainCli, UnknownOptionIsOneLine) {
  auto r = run_cli("train --config x.json --lr-typo 3");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("lr-typo"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace oryx::testing
