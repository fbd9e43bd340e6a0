// Training on synthetic MQAR (data = "mqar", train/data_source.h): the stream is fixed by the
// run seed, cycles through the pair counts and resumes exactly; training, validation and
// `oryx eval` examples never coincide; bad settings are refused by name; and a tiny
// Transformer trained on it learns to recall.
#include <gtest/gtest.h>

#include <set>

#include "oryx/common/error.h"
#include "oryx/common/remove_tree.h"
#include "oryx/eval/loss.h"
#include "oryx/eval/mqar.h"
#include "oryx/train/data_source.h"
#include "oryx/train/trainer.h"
#include "support/models.h"
#include "train/train_fixture.h"

namespace oryx::testing {
namespace {

TrainOptions mqar_options(const std::string& config_name, int64_t tokens) {
  auto o = tiny_train_options(config_name, tokens);
  o.data = "mqar";
  o.mqar.vocab = 64;
  o.mqar.pairs = {2, 4, 6};
  o.seq_len = 32;
  o.eval_windows = 96;
  return o;
}

std::vector<int64_t> row(const torch::Tensor& t, int64_t r) {
  auto x = t[r].contiguous();
  return {x.data_ptr<int64_t>(), x.data_ptr<int64_t>() + x.numel()};
}

TEST(MqarTrainData, StreamCyclesPairCountsAndResumesExactly) {
  auto o = mqar_options("transformer-tiny", 32 * 8);
  auto a = train_data_open(o);
  EXPECT_EQ(a->vocab_size(), 64);
  EXPECT_EQ(a->tokenizer_spec(), "");
  Batch first = a->next();
  ASSERT_EQ(first.inputs.sizes(), (std::vector<int64_t>{8, 32}));
  for (int64_t r = 0; r < 8; ++r) {
    // Row r is training example r: pairs[r % 3] pairs, so that many scored targets.
    const auto ex = mqar_example(mqar_train_example_options(o, r), r);
    EXPECT_EQ(row(first.inputs, r), ex.inputs);
    EXPECT_EQ(row(first.targets, r), ex.targets);
    EXPECT_EQ(first.targets[r].ne(kIgnoreIndex).sum().item<int64_t>(), o.mqar.pairs[r % 3]);
  }
  const auto saved = a->state();
  Batch second = a->next();
  auto b = train_data_open(o);
  b->restore(saved);
  EXPECT_TRUE(torch::equal(b->next().inputs, second.inputs));
  // Another run seed is another stream; a dataset's loader state is refused.
  o.seed += 1;
  EXPECT_FALSE(torch::equal(train_data_open(o)->next().inputs, first.inputs));
  EXPECT_THROW(b->restore({{"seed", 1}, {"epoch", 0}, {"index", 8}}), Error);
}

TEST(MqarTrainData, TrainValidationAndEvalExamplesAreDisjoint) {
  auto o = mqar_options("transformer-tiny", 32 * 8);
  o.mqar.pairs = {4};
  std::set<std::vector<int64_t>> train;
  for (int64_t i = 0; i < 2000; ++i) train.insert(mqar_example(mqar_train_example_options(o, i), i).inputs);
  MqarOptions eval = mqar_train_example_options(o, 0);
  eval.seed = 0;  // `oryx eval --task mqar`'s default seed
  for (int64_t i = 0; i < 2000; ++i) {
    EXPECT_FALSE(train.count(mqar_example(mqar_validation_example_options(o, i), i).inputs)) << "val " << i;
    EXPECT_FALSE(train.count(mqar_example(eval, i).inputs)) << "eval " << i;
  }
}

TEST(MqarTrainData, BadSettingsAreNamed) {
  auto o = mqar_options("transformer-tiny", 32 * 8);
  o.mqar.pairs = {2, 9};  // 9 pairs need seq_len >= 36
  try {
    train_data_open(o);
    FAIL() << "9 pairs in 32 tokens accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("seq_len >= 4 * pairs = 36"), std::string::npos) << e.what();
  }
  auto j = train_options_to_json(mqar_options("transformer-tiny", 32 * 8));
  EXPECT_NO_THROW(train_options_from_json(j, "run.json"));  // writes back what it reads
  j["data"] = "data/corpus";
  EXPECT_THROW(train_options_from_json(j, "run.json"), Error);  // mqar_* keys without mqar data
  j = train_options_to_json(mqar_options("transformer-tiny", 32 * 8));
  j["mqar_pairs"] = {4, -1};
  EXPECT_THROW(train_options_from_json(j, "run.json"), Error);
  // The model must hold the task's ids.
  auto big = mqar_options("transformer-tiny", 32 * 8);
  big.mqar.vocab = 4096;  // tiny configs have 512 ids
  EXPECT_THROW(train_run(big), Error);
  remove_tree(big.out);
}

TEST(MqarTraining, TinyTransformerLearnsToRecall) {
  auto o = mqar_options("transformer-tiny", 32 * 32 * 240);  // 240 steps of 32 sequences
  o.batch_size = 32;
  o.eval_every = 240;
  const auto s = train_run(o);
  ASSERT_TRUE(s.finished);
  const auto& v = s.last_eval["eval"]["all-A"];
  // Chance is 1/31 values; recall has to be learned, and is.
  EXPECT_GT(v["accuracy"].get<double>(), 0.9) << v.dump();
  EXPECT_EQ(v["attention_fraction"].get<double>(), 1.0);
  remove_tree(o.out);
}

}  // namespace
}  // namespace oryx::testing
