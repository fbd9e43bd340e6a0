// Per-sequence cache lengths (cache/cache.h): rows prefilled alone through ModelCache::row,
// then decoded together one token per sequence at its own position, give each sequence the
// logits of its own B = 1 cache; retired rows stop advancing; equal lengths keep the uniform
// path. fp64, so the bound is rounding-level.
#include <gtest/gtest.h>

#include "oryx/common/error.h"
#include "oryx/model/model.h"
#include "support/models.h"

namespace oryx::testing {
namespace {

torch::Tensor ids(int64_t n, int64_t offset) { return torch::arange(offset, offset + n, torch::kLong).unsqueeze(0); }

class CacheRows : public ::testing::TestWithParam<std::string> {};

TEST_P(CacheRows, PerSequenceDecodeEqualsSeparateCaches) {
  auto cfg = shipped_config(GetParam());
  auto model = model_create(cfg, 2);
  model->to(torch::kFloat64);
  model->eval();
  torch::NoGradGuard no_grad;
  const bool oryx = cfg.kind == ModelKind::Oryx;
  const bool a = cfg.kind != ModelKind::Linear;
  const std::vector<int64_t> lengths = {3, 18, 7};
  const int64_t B = 3, steps = 4;
  ModelCache batch(cfg, B, 32, torch::kCPU, torch::kFloat64);
  std::vector<ModelCache> alone;
  for (int64_t b = 0; b < B; ++b) {
    auto prompt = ids(lengths[b], 10 * b + 1);
    auto modes = torch::full({lengths[b]}, a, torch::kBool);
    auto row = batch.row(b);
    model->forward(prompt, modes, &row);
    batch.store_row(b, row);
    alone.emplace_back(cfg, 1, 32, torch::kCPU, torch::kFloat64);
    model->forward(prompt, modes, &alone.back());
  }
  EXPECT_FALSE(batch.uniform());
  EXPECT_THROW(batch.length(), Error);
  EXPECT_EQ(batch.row_lengths(), lengths);
  for (int64_t s = 0; s < steps; ++s) {
    // Oryx models switch each sequence's mode on its own.
    auto modes = torch::tensor({a, oryx ? s % 2 == 0 : a, oryx ? s % 2 == 1 : a}).unsqueeze(1);
    auto tokens = torch::tensor({5 + s, 40 + s, 90 + s}).unsqueeze(1);
    auto logits = model->forward(tokens, modes, &batch);
    for (int64_t b = 0; b < B; ++b) {
      auto expected = model->forward(tokens.narrow(0, b, 1), modes.narrow(0, b, 1), &alone[b]);
      EXPECT_LT((logits.narrow(0, b, 1) - expected).abs().max().item<double>(), 1e-10)
          << GetParam() << " step " << s << " row " << b;
    }
  }
  EXPECT_TRUE(torch::equal(batch.lengths(), torch::tensor({3 + steps, 18 + steps, 7 + steps})));
}

INSTANTIATE_TEST_SUITE_P(Kinds, CacheRows,
                         ::testing::Values("transformer-tiny", "gdn-tiny", "mamba2-tiny", "oryx-gdn-tiny",
                                           "oryx-mamba2-tiny"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string name = info.param;
                           for (auto& ch : name)
                             if (ch == '-') ch = '_';
                           return name;
                         });

TEST(CacheRowsRetire, RetiredRowStopsAdvancingAndMayFillTheCapacity) {
  auto cfg = shipped_config("transformer-tiny");
  auto model = model_create(cfg, 2);
  model->eval();
  torch::NoGradGuard no_grad;
  ModelCache cache(cfg, 2, 4, torch::kCPU, torch::kFloat32);
  for (int64_t b = 0; b < 2; ++b) {
    auto row = cache.row(b);
    model->forward(ids(b == 0 ? 4 : 1, 1), torch::Tensor(), &row);
    cache.store_row(b, row);
  }
  cache.retire_row(0);  // full: its slot is clamped to the last one while row 1 decodes
  for (int64_t s = 0; s < 3; ++s) model->forward(torch::tensor({{7}, {8}}), torch::Tensor(), &cache);
  EXPECT_EQ(cache.row_lengths(), (std::vector<int64_t>{4, 4}));
  EXPECT_TRUE(torch::equal(cache.lengths(), torch::tensor({4, 4})));
  // Row 1 is now full too.
  EXPECT_THROW(model->forward(torch::tensor({{7}, {8}}), torch::Tensor(), &cache), Error);
  cache.reset();
  EXPECT_EQ(cache.length(), 0);
}

TEST(CacheRowsRetire, UnequalLengthsTakeOneTokenPerSequence) {
  auto cfg = shipped_config("transformer-tiny");
  auto model = model_create(cfg, 2);
  torch::NoGradGuard no_grad;
  ModelCache cache(cfg, 2, 16, torch::kCPU, torch::kFloat32);
  auto row = cache.row(1);
  model->forward(ids(3, 1), torch::Tensor(), &row);
  cache.store_row(1, row);
  EXPECT_THROW(model->forward(torch::ones({2, 2}, torch::kLong), torch::Tensor(), &cache), Error);
}

}  // namespace
}  // namespace oryx::testing
