// Token loss and perplexity: eval_loss and `ppl` agree with a plain forward and torch's own
// cross-entropy on the same windows, count the attention fraction they were fed with, and
// score every token of a text file exactly once.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "oryx/data/loader.h"
#include "oryx/eval/loss.h"
#include "oryx/eval/ppl.h"
#include "support/models.h"
#include "support/temp_dir.h"

namespace oryx::testing {
namespace {

// A dataset whose "val" split holds `n` random ids below `vocab`.
Dataset random_dataset(const TempDir& dir, int64_t n, int64_t vocab) {
  Dataset ds;
  ds.dir = dir.path().string();
  ds.vocab_size = vocab;
  ds.eod_id = 0;
  ds.tokenizer = "byte";
  torch::manual_seed(11);
  auto ids = torch::randint(0, vocab, {n}, torch::kLong);
  ShardWriter w(ds.shard_path("val-00000.bin"), vocab);
  w.append(ids.data_ptr<int64_t>(), static_cast<size_t>(n));
  w.close();
  ds.splits["val"] = DatasetSplit{{"val-00000.bin"}, n, 1};
  dataset_write_meta(ds);
  return dataset_open(ds.dir);
}

TEST(EvalLoss, TokenLossHonoursIgnoreIndex) {
  torch::manual_seed(3);
  auto logits = torch::randn({2, 5, 11});
  auto targets = torch::randint(0, 11, {2, 5}, torch::kLong);
  targets[0][1] = kIgnoreIndex;
  targets[1][4] = kIgnoreIndex;
  auto expect = torch::nn::functional::cross_entropy(
      logits.view({10, 11}), targets.view({10}),
      torch::nn::functional::CrossEntropyFuncOptions().ignore_index(kIgnoreIndex));
  EXPECT_NEAR(token_loss(logits, targets).item<double>(), expect.item<double>(), 1e-6);
  auto nll = token_nll(logits, targets);
  EXPECT_EQ(nll[0][1].item<float>(), 0.0f);
  EXPECT_NEAR(nll.sum().item<double>() / 8, expect.item<double>(), 1e-6);
}

TEST(EvalLoss, PplEqualsTrainingLossOnSameWindows) {
  TempDir dir;
  const Dataset ds = random_dataset(dir, 7 * 33 + 5, 512);  // 7 windows of T+1 = 33, tail unused
  auto model = model_create(shipped_config("oryx-gdn-tiny"), 5);
  const int64_t T = 32;
  const Schedule schedule = schedule_parse("last:8");

  // Independently: a plain forward per batch and torch's summed cross-entropy; and the
  // training loss (token_loss, a per-batch mean) weighted by each batch's targets.
  double nll = 0, train_nll = 0;
  int64_t count = 0;
  {
    torch::NoGradGuard ng;
    EvalWindows windows(ds, "val", 3, T);
    while (auto b = windows.next()) {
      auto logits = model->forward(b->inputs, schedule.prompt_modes(T));
      nll += torch::nn::functional::cross_entropy(
                 logits.reshape({-1, logits.size(-1)}).to(torch::kFloat64), b->targets.reshape({-1}),
                 torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
                 .item<double>();
      train_nll += token_loss(logits, b->targets).item<double>() * static_cast<double>(b->targets.numel());
      count += b->targets.numel();
    }
  }
  EXPECT_NEAR(train_nll / count, nll / count, 1e-5 * nll / count);
  PplData data(dir.path().string(), "val", nullptr);
  PplOptions o;
  o.seq_len = T;
  o.batch = 2;
  const auto r = ppl_eval(model, data, o, schedule, nullptr);
  EXPECT_EQ(r.windows, 7);
  EXPECT_EQ(r.loss.tokens, count);
  EXPECT_NEAR(r.loss.loss(), nll / count, 1e-5 * nll / count);
  EXPECT_NEAR(r.loss.perplexity(), std::exp(nll / count), 1e-4 * std::exp(nll / count));
  EXPECT_DOUBLE_EQ(r.loss.attention_fraction(), 8.0 / 32.0);
  EXPECT_EQ(r.loss.mode_a.tokens, 7 * 8);
  EXPECT_EQ(r.loss.mode_a.tokens + r.loss.mode_l.tokens, r.loss.tokens);
  EXPECT_FALSE(r.loss.bits_per_byte.has_value());

  // The trainer's entry point over the same windows gives the same numbers.
  EvalWindows windows(ds, "val", 4, T);
  const auto direct = eval_loss(model, windows, schedule);
  EXPECT_NEAR(direct.loss(), r.loss.loss(), 1e-9);
  EXPECT_TRUE(windows.next().has_value()) << "eval_loss rewinds the windows";
  const auto j = r.to_json();
  EXPECT_EQ(j["schedule"], "last:8");
  EXPECT_DOUBLE_EQ(j["attention_fraction"].get<double>(), 0.25);
}

TEST(EvalLoss, TextScoresEveryTokenOnceWithBitsPerByte) {
  TempDir dir;
  const std::string text = "The small cats follow a red river near the old house.";
  std::ofstream(dir.file("doc.txt")) << text << "\n\x1e\n" << text.substr(0, 20) << "\n";
  ByteTokenizer tok;
  PplData data(dir.file("doc.txt"), "val", &tok);
  const int64_t n = static_cast<int64_t>(text.size() + 1 + 20 + 1);  // two documents and their eod ids
  auto model = model_create(shipped_config("oryx-gdn-tiny"), 2);
  PplOptions o;
  o.seq_len = 16;
  o.batch = 3;
  const auto bytes = token_byte_lengths(tok);
  const auto r = ppl_eval(model, data, o, schedule_parse("all-L"), &bytes);
  EXPECT_EQ(r.windows, (n - 1 + 15) / 16);
  EXPECT_EQ(r.loss.tokens, n - 1);
  EXPECT_EQ(r.loss.fed, n - 1);                  // the short last window is fed unpadded
  EXPECT_EQ(r.loss.bytes, n - 1 - 2);            // every target but the two eod ids
  ASSERT_TRUE(r.loss.bits_per_byte.has_value());
  EXPECT_GT(*r.loss.bits_per_byte, 0.0);
  EXPECT_EQ(r.loss.attention_fraction(), 0.0);
  EXPECT_EQ(r.loss.mode_a.tokens, 0);
}

TEST(EvalLoss, ByteLengthsOfTheByteTokenizer) {
  ByteTokenizer tok;
  const auto bytes = token_byte_lengths(tok);
  ASSERT_EQ(bytes.size(), 257u);
  EXPECT_EQ(bytes[65], 1);
  EXPECT_EQ(bytes[200], 1);  // a lone continuation byte still stands for one byte
  EXPECT_EQ(bytes[256], 0);
}

}  // namespace
}  // namespace oryx::testing
