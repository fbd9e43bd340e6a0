// What `oryx train` does with its run folder: a folder that holds anything is used only with
// --resume or --overwrite (a finished run whose ckpt/ is gone was once silently trained over),
// --overwrite deletes only the previous run's outputs, folders that merely look like our
// leftovers survive, ours are cleaned at the next start, and a missing gnuplot or a hostile
// folder name costs at most the plot.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "oryx/common/atomic_file.h"
#include "oryx/common/error.h"
#include "oryx/common/remove_tree.h"
#include "oryx/train/metrics.h"
#include "oryx/train/run_folder.h"
#include "oryx/train/trainer.h"
#include "support/temp_dir.h"
#include "train/train_fixture.h"

namespace fs = std::filesystem;

namespace oryx::testing {
namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Two steps of a tiny model: enough to write every output of a run.
TrainOptions short_run() {
  auto o = tiny_train_options("gdn-tiny", 64 * 8 * 2);
  o.eval_windows = 1;
  o.threads = 1;
  return o;
}

void expect_error_naming(const TrainOptions& o, const std::string& needle) {
  try {
    train_run(o);
    ADD_FAILURE() << "no error; expected one naming " << needle;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(RunFolder, FinishedRunWithoutCheckpointIsNotTrainedOver) {
  auto o = short_run();
  ASSERT_TRUE(train_run(o).finished);
  remove_tree(o.out + "/ckpt");
  const std::string metrics = slurp(o.out + "/metrics.jsonl");
  const std::string weights = slurp(o.out + "/final/model.safetensors");
  expect_error_naming(o, "--overwrite");
  auto resume = o;
  resume.resume = true;
  expect_error_naming(resume, "--overwrite");
  EXPECT_EQ(slurp(o.out + "/metrics.jsonl"), metrics);
  EXPECT_EQ(slurp(o.out + "/final/model.safetensors"), weights);
  auto both = resume;
  both.overwrite = true;
  expect_error_naming(both, "contradict");
  // Asked for, the run starts over: a fresh curve, not one appended to the old.
  o.overwrite = true;
  ASSERT_TRUE(train_run(o).finished);
  EXPECT_EQ(slurp(o.out + "/metrics.jsonl").find(metrics), std::string::npos);
  EXPECT_EQ(metrics_read(o.out + "/metrics.jsonl").size(),
            static_cast<size_t>(std::count(metrics.begin(), metrics.end(), '\n')));
  remove_tree(o.out);
}

TEST(RunFolder, OverwriteDeletesOnlyThePreviousRun) {
  auto o = short_run();
  std::ofstream(o.out + "/notes.txt") << "mine";
  expect_error_naming(o, "notes.txt");
  o.overwrite = true;
  ASSERT_TRUE(train_run(o).finished);
  EXPECT_EQ(slurp(o.out + "/notes.txt"), "mine");
  // A folder named like ours that is not a checkpoint is never deleted.
  remove_tree(o.out + "/final");
  fs::create_directories(o.out + "/final");
  std::ofstream(o.out + "/final/thesis.tex") << "mine";
  expect_error_naming(o, "not an oryx checkpoint");
  EXPECT_EQ(slurp(o.out + "/final/thesis.tex"), "mine");
  remove_tree(o.out);
}

TEST(RunFolder, FoldersThatOnlyLookLikeOurLeftoversSurviveTraining) {
  auto o = short_run();
  o.max_steps = 1;
  ASSERT_FALSE(train_run(o).finished);
  for (const char* name : {"ckpt.old-mine", "final.old-mine"}) {
    fs::create_directories(o.out + "/" + name);
    std::ofstream(o.out + "/" + name + "/keep.txt") << "mine";
  }
  o.max_steps = 0;
  o.resume = true;
  o.save_every = 1;
  ASSERT_TRUE(train_run(o).finished);
  EXPECT_EQ(slurp(o.out + "/ckpt.old-mine/keep.txt"), "mine");
  EXPECT_EQ(slurp(o.out + "/final.old-mine/keep.txt"), "mine");
  remove_tree(o.out);
}

TEST(RunFolderDeathTest, KilledSaveLeftoversAreCleanedAtTheNextStart) {
  TempDir dir;
  const std::string out = dir.file("run");
  fs::create_directories(out);
  EXPECT_EXIT(
      {
        for (const char* name : {"/ckpt", "/final"}) atomic_make_tmp_dir(out + name);
        std::_Exit(3);
      },
      ::testing::ExitedWithCode(3), "");
  EXPECT_EQ(std::distance(fs::directory_iterator(out), fs::directory_iterator()), 2);
  run_folder_claim(out, /*resume=*/true, /*overwrite=*/false);
  EXPECT_TRUE(fs::is_empty(out));
}

TEST(RunFolder, MissingGnuplotCostsOnlyThePlot) {
  TempDir empty_path;
  auto o = short_run();
  o.plot = true;
  const std::string old_path = std::getenv("PATH") ? std::getenv("PATH") : "";
  ::setenv("PATH", empty_path.path().c_str(), 1);
  TrainSummary s;
  EXPECT_NO_THROW(s = train_run(o));
  ::setenv("PATH", old_path.c_str(), 1);
  EXPECT_TRUE(s.finished);
  EXPECT_TRUE(fs::exists(o.out + "/final/model.safetensors"));
  remove_tree(o.out);
}

TEST(RunFolder, HostileOutPathRunsNoShellCommandThroughThePlot) {
  TempDir dir;
  const std::string marker = dir.file("pwned");
  auto o = short_run();
  remove_tree(o.out);
  o.out = dir.file("run\n!touch '" + marker + "' #");
  o.plot = true;
  ASSERT_TRUE(train_run(o).finished);
  EXPECT_FALSE(fs::exists(marker)) << "the run folder's name ran a shell command";
  EXPECT_TRUE(fs::exists(o.out + "/loss.png"));
}

}  // namespace
}  // namespace oryx::testing
