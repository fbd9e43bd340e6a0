// `oryx train` from the command line: switches (--resume, --plot) parse as flags, a run
// sliced with --max-steps resumes to the budget, and bad options are one line, exit 2, as are
// a diverged run (which keeps its last good checkpoint) and a resume that changes the data order.
#include <gtest/gtest.h>

#include <filesystem>

#include "oryx/checkpoint/checkpoint.h"
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

// The text after "oryx: error: ", which must be the last line of stderr and one line.
std::string error_line(const std::string& err) {
  auto at = err.find("oryx: error: ");
  if (at == std::string::npos) return "";
  std::string line = err.substr(at);
  EXPECT_EQ(line.find('\n'), line.size() - 1) << "not one last line: " << err;
  return line;
}

int64_t checkpoint_step(const std::string& ckpt) {
  return checkpoint_load_training(ckpt).trainer["step"].get<int64_t>();
}

TEST(TrainCli, DivergedRunStopsNamingTheStepAndKeepsTheLastGoodCheckpoint) {
  TempDir dir;
  const std::string base = "train --config " + shipped_config_path("transformer-tiny") + " --data " +
                           synthetic_dataset_dir() + " --out " + dir.file("run") +
                           " --tokens 4096 --batch-size 2 --seq-len 64 --eval-windows 2 --threads 1 --device cpu";
  ASSERT_EQ(run_cli(base + " --max-steps 2").exit_code, 0);
  // The largest learning rate allowed, unclipped: the weights blow up within a few steps.
  auto r = run_cli(base + " --resume --lr 100 --grad-clip 0 --save-every 1");
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(error_line(r.err).find("training diverged at step "), std::string::npos) << r.err;
  // The checkpoint of the step before the diverged one, and nothing after it.
  const auto at = r.err.find("training diverged at step ");
  ASSERT_NE(at, std::string::npos);
  const int64_t diverged = std::stoll(r.err.substr(at + 26));
  EXPECT_GT(diverged, 2);
  EXPECT_EQ(checkpoint_step(dir.file("run/ckpt")), diverged - 1);
  EXPECT_FALSE(std::filesystem::exists(dir.file("run/final")));
}

TEST(TrainCli, ResumeRefusesAChangedBatchSizeAndNoticesAChangedLr) {
  TempDir dir;
  const std::string base = "train --config " + shipped_config_path("transformer-tiny") + " --data " +
                           synthetic_dataset_dir() + " --out " + dir.file("run") +
                           " --tokens 512 --seq-len 64 --eval-windows 2 --threads 1 --device cpu";
  ASSERT_EQ(run_cli(base + " --batch-size 2 --max-steps 1").exit_code, 0);
  auto r = run_cli(base + " --batch-size 4 --resume");
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(error_line(r.err).find("--batch-size is 4 but the run in "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(" used 2, "), std::string::npos) << r.err;
  r = run_cli(base + " --batch-size 2 --resume --lr 1e-3");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("oryx: note: resuming with --lr 0.001 (the run so far used 0.0003)\n"), std::string::npos)
      << r.err;
  EXPECT_EQ(checkpoint_step(dir.file("run/final")), 4);
}

TEST(TrainCli, FinishedRunIsReplacedOnlyWithOverwriteAndLossesPrintReadably) {
  TempDir dir;
  const std::string base = "train --config " + shipped_config_path("transformer-tiny") + " --data " +
                           synthetic_dataset_dir() + " --out " + dir.file("run") +
                           " --tokens 256 --batch-size 2 --seq-len 64 --eval-windows 1 --threads 1 --device cpu";
  auto r = run_cli(base);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // Four decimals for people; 16 digits only in --json.
  const auto at = r.out.find("val all-A: loss ");
  ASSERT_NE(at, std::string::npos) << r.out;
  const std::string loss = r.out.substr(at + 16, r.out.find(", ppl", at) - at - 16);
  EXPECT_EQ(loss.size() - loss.find('.'), 5u) << loss;
  remove_tree(dir.file("run/ckpt"));
  r = run_cli(base);
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_NE(r.err.find("--overwrite"), std::string::npos) << r.err;
  r = run_cli(base + " --resume --overwrite");
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_NE(r.err.find("contradict"), std::string::npos) << r.err;
  r = run_cli(base + " --overwrite --json");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("\"finished\": true"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace oryx::testing
