// Batch loaders over a dataset whose token i is the number i, spread over shards of uneven
// sizes, so that a window's tokens say where it came from and windows cross shard edges.
#include <gtest/gtest.h>

#include <numeric>
#include <set>

#include "oryx/common/error.h"
#include "oryx/data/loader.h"
#include "support/temp_dir.h"

namespace oryx::testing {
namespace {

// A dataset in `dir` whose "train" split is the tokens 0 .. n-1 in shards of the given sizes.
Dataset counting_dataset(const TempDir& dir, const std::vector<int64_t>& shard_sizes) {
  Dataset ds;
  ds.dir = dir.path().string();
  ds.vocab_size = 1 << 20;
  ds.eod_id = 0;
  ds.tokenizer = "byte";
  int64_t next = 0;
  DatasetSplit split;
  for (size_t s = 0; s < shard_sizes.size(); ++s) {
    const std::string name = "train-0000" + std::to_string(s) + ".bin";
    ShardWriter w(ds.shard_path(name), ds.vocab_size);
    for (int64_t i = 0; i < shard_sizes[s]; ++i, ++next) w.append({next});
    w.close();
    split.shards.push_back(name);
  }
  split.tokens = next;
  split.documents = 1;
  ds.splits["train"] = split;
  dataset_write_meta(ds);
  return dataset_open(ds.dir);
}

// Window index of each row, checking that the row is a whole window and targets follow.
std::vector<int64_t> window_ids(const Batch& b, int64_t T) {
  EXPECT_EQ(b.inputs.scalar_type(), torch::kInt64);
  EXPECT_EQ(b.inputs.sizes(), b.targets.sizes());
  EXPECT_EQ(b.inputs.size(1), T);
  std::vector<int64_t> ids;
  for (int64_t r = 0; r < b.inputs.size(0); ++r) {
    const int64_t start = b.inputs[r][0].item<int64_t>();
    EXPECT_EQ(start % (T + 1), 0) << "windows start at multiples of T+1";
    auto expect = torch::arange(start, start + T, torch::kInt64);
    EXPECT_TRUE(torch::equal(b.inputs[r], expect));
    EXPECT_TRUE(torch::equal(b.targets[r], expect + 1));
    ids.push_back(start / (T + 1));
  }
  return ids;
}

TEST(DataLoader, PermutationIsBijection) {
  for (int64_t n : {1, 2, 3, 5, 17, 64, 65, 1000}) {
    for (int64_t epoch : {0, 1}) {
      std::set<int64_t> seen;
      for (int64_t i = 0; i < n; ++i) seen.insert(loader_permute(i, n, 42, epoch));
      EXPECT_EQ(static_cast<int64_t>(seen.size()), n) << "n=" << n;
      EXPECT_EQ(*seen.rbegin(), n - 1);
    }
  }
}

TEST(DataLoader, OneEpochCoversEveryWindowOnce) {
  TempDir dir;
  const Dataset ds = counting_dataset(dir, {100, 37, 263});  // 400 tokens
  const int64_t T = 7, B = 5;                                // W = 400 / 8 = 50
  BatchLoader loader(ds, "train", B, T, 1234);
  ASSERT_EQ(loader.windows(), 50);
  std::vector<int64_t> order;
  for (int i = 0; i < 10; ++i) {
    const auto ids = window_ids(loader.next(), T);
    order.insert(order.end(), ids.begin(), ids.end());
  }
  EXPECT_EQ(std::set<int64_t>(order.begin(), order.end()).size(), 50u);
  EXPECT_EQ(loader.epoch(), 1);
  EXPECT_EQ(loader.index(), 0);
  std::vector<int64_t> sorted(50);
  std::iota(sorted.begin(), sorted.end(), 0);
  EXPECT_NE(order, sorted) << "the order should be shuffled";
}

TEST(DataLoader, SeedDeterminesOrder) {
  TempDir dir;
  const Dataset ds = counting_dataset(dir, {1000});
  BatchLoader a(ds, "train", 4, 9, 7), b(ds, "train", 4, 9, 7), c(ds, "train", 4, 9, 8);
  bool differs = false;
  for (int i = 0; i < 5; ++i) {
    const Batch ba = a.next(), bb = b.next(), bc = c.next();
    EXPECT_TRUE(torch::equal(ba.inputs, bb.inputs));
    differs |= !torch::equal(ba.inputs, bc.inputs);
  }
  EXPECT_TRUE(differs);
}

TEST(DataLoader, RestoreGivesIdenticalNextBatches) {
  TempDir dir;
  const Dataset ds = counting_dataset(dir, {300, 211});
  const int64_t T = 10, B = 3;  // W = 46: the saved position is mid-epoch, the run crosses one
  BatchLoader a(ds, "train", B, T, 99);
  for (int i = 0; i < 13; ++i) a.next();
  const nlohmann::json saved = nlohmann::json::parse(a.state().dump());  // as a checkpoint would
  std::vector<Batch> expected;
  for (int i = 0; i < 8; ++i) expected.push_back(a.next());

  BatchLoader b(ds, "train", B, T, /*seed=*/5);
  b.restore(saved);
  for (const auto& e : expected) {
    const Batch got = b.next();
    EXPECT_TRUE(torch::equal(got.inputs, e.inputs));
    EXPECT_TRUE(torch::equal(got.targets, e.targets));
  }
  EXPECT_EQ(b.state(), a.state());

  BatchLoader other_len(ds, "train", B, T + 1, 99);
  EXPECT_THROW(other_len.restore(saved), Error);
  nlohmann::json bad = saved;
  bad["index"] = 1000;
  EXPECT_THROW(b.restore(bad), Error);
}

TEST(DataLoader, EpochWrapReshuffles) {
  TempDir dir;
  const Dataset ds = counting_dataset(dir, {56});  // T = 7: W = 7
  BatchLoader loader(ds, "train", 3, 7, 3);
  std::vector<int64_t> seq;
  for (int i = 0; i < 7; ++i) {  // 21 windows = 3 epochs, batches straddling epoch ends
    const auto ids = window_ids(loader.next(), 7);
    seq.insert(seq.end(), ids.begin(), ids.end());
  }
  std::vector<std::vector<int64_t>> epochs;
  for (int e = 0; e < 3; ++e) {
    std::vector<int64_t> ep(seq.begin() + 7 * e, seq.begin() + 7 * (e + 1));
    EXPECT_EQ(std::set<int64_t>(ep.begin(), ep.end()).size(), 7u) << "epoch " << e;
    epochs.push_back(ep);
  }
  EXPECT_TRUE(epochs[0] != epochs[1] || epochs[1] != epochs[2]);
  EXPECT_EQ(loader.epoch(), 3);
}

TEST(DataLoader, SplitSmallerThanOneBatch) {
  TempDir dir;
  const Dataset ds = counting_dataset(dir, {25});  // T = 11: W = 2
  BatchLoader loader(ds, "train", 5, 11, 0);
  const auto ids = window_ids(loader.next(), 11);
  EXPECT_EQ(ids.size(), 5u);
  EXPECT_EQ(loader.epoch(), 2);
  try {
    BatchLoader too_long(ds, "train", 1, 25, 0);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("fewer than one window"), std::string::npos) << e.what();
  }
}

TEST(DataLoader, RanksSplitTheGlobalBatch) {
  TempDir dir;
  const Dataset ds = counting_dataset(dir, {500});
  BatchLoader whole(ds, "train", 4, 9, 11);
  BatchLoader r0(ds, "train", 2, 9, 11, 0, 2), r1(ds, "train", 2, 9, 11, 1, 2);
  for (int i = 0; i < 6; ++i) {
    const Batch w = whole.next();
    EXPECT_TRUE(torch::equal(torch::cat({r0.next().inputs, r1.next().inputs}), w.inputs));
  }
  EXPECT_EQ(r0.state(), whole.state());
}

TEST(DataLoader, EvalWindowsInOrder) {
  TempDir dir;
  const Dataset ds = counting_dataset(dir, {40, 60});  // T = 9: W = 10
  EvalWindows all(ds, "train", 4, 9);
  std::vector<int64_t> ids, sizes;
  while (auto b = all.next()) {
    const auto w = window_ids(*b, 9);
    ids.insert(ids.end(), w.begin(), w.end());
    sizes.push_back(b->inputs.size(0));
  }
  EXPECT_EQ(ids, (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  EXPECT_EQ(sizes, (std::vector<int64_t>{4, 4, 2}));
  all.reset();
  EXPECT_EQ(window_ids(*all.next(), 9)[0], 0);

  EvalWindows some(ds, "train", 4, 9, /*max_windows=*/5);
  EXPECT_EQ(some.windows(), 5);
  EXPECT_EQ(some.next()->inputs.size(0), 4);
  EXPECT_EQ(some.next()->inputs.size(0), 1);
  EXPECT_FALSE(some.next().has_value());
}

}  // namespace
}  // namespace oryx::testing
