// Training: the loss of tiny models falls on a learnable task, resuming reproduces the
// uninterrupted loss curve bit for bit (fp32, CPU), checkpoints round-trip, a crash while
// writing one leaves the previous one valid, and broken or mismatched checkpoints are refused.
#include <gtest/gtest.h>

#include <filesystem>

#include "oryx/checkpoint/checkpoint.h"
#include "oryx/checkpoint/safetensors.h"
#include "oryx/common/atomic_file.h"
#include "oryx/common/error.h"
#include "oryx/train/metrics.h"
#include "oryx/train/trainer.h"
#include "oryx/common/remove_tree.h"
#include "support/models.h"
#include "train/train_fixture.h"

namespace fs = std::filesystem;

namespace oryx::testing {
namespace {

std::vector<double> train_losses(const std::string& out) {
  std::vector<double> l;
  for (const auto& r : metrics_read(out + "/metrics.jsonl"))
    if (r["kind"] == "train") l.push_back(r["loss"].get<double>());
  return l;
}

class TrainLearns : public ::testing::TestWithParam<std::string> {};

TEST_P(TrainLearns, LossFallsWellBelowItsStart) {
  auto o = tiny_train_options(GetParam(), 64 * 8 * 120);  // 120 steps
  auto s = train_run(o);
  ASSERT_TRUE(s.finished);
  auto l = train_losses(o.out);
  ASSERT_EQ(l.size(), 120u);
  double start = l.front();
  double end = (l[l.size() - 1] + l[l.size() - 2] + l[l.size() - 3]) / 3;
  // A byte-level model starts near ln(512) = 6.2 nats; the synthetic grammar is learnable
  // well below half of that within 120 steps.
  EXPECT_GT(start, 5.5) << GetParam();
  EXPECT_LT(end, 0.5 * start) << GetParam() << ": start " << start << ", end " << end;
  EXPECT_LT(s.last_eval["eval"].begin().value()["loss"].get<double>(), 0.55 * start);
  remove_tree(o.out);
}

INSTANTIATE_TEST_SUITE_P(Tiny, TrainLearns, ::testing::Values("transformer-tiny", "gdn-tiny", "oryx-gdn-tiny"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (auto& c : n)
                             if (c == '-') c = '_';
                           return n;
                         });

TEST(TrainResume, InterruptedRunEqualsUninterruptedBitwise) {
  auto straight = tiny_train_options("oryx-mamba2-tiny", 64 * 8 * 12);
  straight.grad_accum = 2;
  straight.batch_size = 4;
  straight.eval_every = 4;
  train_run(straight);
  auto sliced = straight;
  sliced.out = make_temp_dir("run-sliced");
  sliced.max_steps = 5;
  auto first = train_run(sliced);
  EXPECT_FALSE(first.finished);
  EXPECT_EQ(first.steps, 5);
  sliced.max_steps = 0;
  sliced.resume = true;
  auto second = train_run(sliced);
  EXPECT_TRUE(second.finished);
  auto a = train_losses(straight.out), b = train_losses(sliced.out);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i], b[i]) << "step " << i + 1;  // bitwise
  // The final weights are identical too.
  auto wa = fs::path(straight.out) / "final" / "model.safetensors";
  auto wb = fs::path(sliced.out) / "final" / "model.safetensors";
  EXPECT_EQ(fs::file_size(wa), fs::file_size(wb));
  remove_tree(straight.out);
  remove_tree(sliced.out);
}

TEST(TrainResume, RefusesBrokenOrMismatchedCheckpoints) {
  auto o = tiny_train_options("oryx-gdn-tiny", 64 * 8 * 6);
  o.max_steps = 2;
  train_run(o);
  // Restarting into a run folder with a checkpoint needs --resume.
  EXPECT_THROW(train_run(o), Error);
  // A different model config is refused.
  auto other = o;
  other.resume = true;
  other.config = shipped_config_path("oryx-mamba2-tiny");
  EXPECT_THROW(train_run(other), Error);
  // A truncated optimizer state is refused with the file named.
  auto opt = fs::path(o.out) / "ckpt" / "optimizer.safetensors";
  fs::resize_file(opt, fs::file_size(opt) / 2);
  o.resume = true;
  try {
    train_run(o);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("optimizer.safetensors"), std::string::npos) << e.what();
  }
  remove_tree(o.out);
}

// Resumes `o` expecting an oryx::Error containing `part`.
void expect_resume_error(TrainOptions o, const std::string& part) {
  o.resume = true;
  try {
    train_run(o);
    ADD_FAILURE() << "no error, expected: " << part;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
  }
}

TEST(TrainResume, RefusesNonFiniteOptimizerStateOrAStepDisagreeingWithTrainerJson) {
  auto o = tiny_train_options("transformer-tiny", 64 * 8 * 4);
  o.max_steps = 1;
  train_run(o);
  const std::string opt = checkpoint_files(o.out + "/ckpt").dir + "/optimizer.safetensors";
  const auto good = safetensors_read(opt).tensors;
  auto edited = good;
  for (auto& [name, t] : edited)
    if (name == "exp_avg.embed") t = t.clone().index_fill_(1, torch::tensor({int64_t{3}}), NAN);
  safetensors_write(opt, edited);
  expect_resume_error(o, opt + ": optimizer tensor 'exp_avg.embed' holds NaN or Inf values");
  edited = good;
  for (auto& [name, t] : edited)
    if (name == "step") t = torch::tensor({int64_t{5}});
  safetensors_write(opt, edited);
  expect_resume_error(o, "optimizer.safetensors: step 5 disagrees with step 1 of trainer.json");
  remove_tree(o.out);
}

TEST(TrainCheckpoint, CrashDuringSaveKeepsPreviousCheckpoint) {
  auto o = tiny_train_options("gdn-tiny", 64 * 8 * 6);
  o.max_steps = 2;
  train_run(o);
  std::string ckpt = o.out + "/ckpt";
  auto before = checkpoint_load_training(ckpt).trainer["step"].get<int64_t>();
  EXPECT_EQ(before, 2);
  // The next save fails just before its rename, as a crash there would leave it.
  atomic_file_test_hooks().at_stage = [](AtomicStage stage, const std::string& path) {
    if (stage == AtomicStage::BeforeRename && path.find("/ckpt") != std::string::npos)
      throw std::runtime_error("simulated crash");
  };
  o.resume = true;
  EXPECT_THROW(train_run(o), std::runtime_error);
  atomic_file_test_hooks() = {};
  EXPECT_EQ(checkpoint_load_training(ckpt).trainer["step"].get<int64_t>(), 2);
  // And the run resumes from it.
  o.max_steps = 0;
  auto s = train_run(o);
  EXPECT_TRUE(s.finished);
  EXPECT_EQ(s.steps, 6);
  remove_tree(o.out);
}

}  // namespace
}  // namespace oryx::testing
