// What --resume may change (train/resume_options.h): settings that decide the data order or
// what a step is are refused with the setting, old and new values named; recipe changes are
// accepted with one notice each; bookkeeping changes pass silently.
#include <gtest/gtest.h>

#include "oryx/common/error.h"
#include "oryx/train/resume_options.h"
#include "support/temp_dir.h"

namespace oryx::testing {
namespace {

TrainOptions base_options() {
  TrainOptions o;
  o.data = "data/demo";
  o.out = "runs/out/demo";
  o.tokens = 64 * 100;
  o.seq_len = 64;
  o.batch_size = 16;
  o.seed = 5;
  return o;
}

std::string refusal(const TrainOptions& now, const TrainOptions& saved) {
  try {
    resume_option_changes(train_options_to_json(saved), now, "ckpt/trainer.json");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(ResumeOptions, DataOrderAndStepSettingsAreRefusedNamingOldAndNew) {
  const TrainOptions saved = base_options();
  auto now = saved;
  now.batch_size = 8;
  EXPECT_EQ(refusal(now, saved),
            "--resume: --batch-size is 8 but the run in ckpt/trainer.json used 16, which decides the data order "
            "or what a step is: pass --batch-size 16 or start a new run");
  now = saved;
  now.seed = 6;
  EXPECT_NE(refusal(now, saved).find("--seed is 6 but the run in ckpt/trainer.json used 5"), std::string::npos);
  now = saved;
  now.seq_len = 32;
  EXPECT_NE(refusal(now, saved).find("--seq-len is 32"), std::string::npos);
  now = saved;
  now.grad_accum = 2;
  EXPECT_NE(refusal(now, saved).find("--grad-accum is 2"), std::string::npos);
  now = saved;
  now.data = "data/other";
  EXPECT_NE(refusal(now, saved).find("--data is data/other but the run in ckpt/trainer.json used data/demo"),
            std::string::npos);
  auto mqar = saved;
  mqar.data = "mqar";
  now = mqar;
  now.mqar.pairs = {4, 8};
  EXPECT_NE(refusal(now, mqar).find("--mqar-pairs is 4,8 but the run in ckpt/trainer.json used 4,8,16,32,64"),
            std::string::npos);
}

TEST(ResumeOptions, OneDatasetNamedDifferentlyIsTheSameData) {
  TempDir dir;
  auto saved = base_options();
  saved.data = dir.path().string();
  auto now = saved;
  now.data = dir.path().string() + "/./";
  EXPECT_EQ(refusal(now, saved), "");
}

TEST(ResumeOptions, RecipeChangesAreNoticedBookkeepingIsFree) {
  const TrainOptions saved = base_options();
  auto now = saved;
  now.tokens = 64 * 200;
  now.adamw.lr = 1e-3;
  now.eval_every = 7;
  now.device = "cuda";
  now.max_steps = 3;
  now.resume = true;
  const auto notices = resume_option_changes(train_options_to_json(saved), now, "ckpt/trainer.json");
  ASSERT_EQ(notices.size(), 2u);
  EXPECT_EQ(notices[0], "resuming with --tokens 12800 (the run so far used 6400)");
  EXPECT_EQ(notices[1], "resuming with --lr 0.001 (the run so far used 0.0003)");
  EXPECT_TRUE(resume_option_changes(train_options_to_json(saved), saved, "x").empty());
  // A checkpoint without the options (an older version) cannot be compared.
  EXPECT_TRUE(resume_option_changes(nlohmann::json::object(), now, "x").empty());
}

}  // namespace
}  // namespace oryx::testing
