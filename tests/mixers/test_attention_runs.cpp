// Chunk-sparse attention over each sequence's runs of mode-A tokens (AttentionRuns,
// attention_runs) against the per-query reference, at awkward run patterns: runs of one token,
// at position 0 and at the last position, a sequence all in mode A, one with none.
#include <gtest/gtest.h>

#include "oryx/layer/modes.h"
#include "oryx/mixers/attention/attention.h"
#include "oryx/model/model.h"
#include "support/models.h"
#include "support/tolerance.h"

namespace oryx::testing {
namespace {

// [B,T] masks from strings, one per sequence ('A' or 'L').
torch::Tensor mask_of(const std::vector<std::string>& rows) {
  int64_t B = static_cast<int64_t>(rows.size()), T = static_cast<int64_t>(rows[0].size());
  auto m = torch::zeros({B, T}, torch::kBool);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < T; ++t) m[b][t] = rows[static_cast<size_t>(b)][static_cast<size_t>(t)] == 'A';
  return m;
}

// Patterns of 600 tokens: runs of one token at both ends, runs closer than the merge gap
// (one entry) and farther apart (separate entries sharing keys), a sequence all in mode A, one
// with no query at all, and one alternating token by token.
std::vector<std::string> awkward_patterns() {
  const int64_t T = 600;
  std::string ends(T, 'L'), none(T, 'L'), all(T, 'A'), alternating(T, 'L');
  ends[0] = ends[T - 1] = 'A';
  for (int64_t t = 2; t < 5; ++t) ends[t] = 'A';        // 3 tokens, 1 token from the first: merged
  for (int64_t t = 300; t < 307; ++t) ends[t] = 'A';    // 7 tokens, 295 after: an entry of its own
  for (int64_t t = 1; t < 60; t += 2) alternating[t] = 'A';
  return {ends, none, all, alternating};
}

TEST(AttentionRuns, ListEachSequencesEntriesAndTheirKeys) {
  auto runs = AttentionRuns::from_mask(mask_of({"LAALA", "LLLLL", "AALLL"}), torch::kCPU, false);
  using Entry = std::array<int64_t, 3>;
  // Runs 1..2 and 4 of the first sequence are one token apart: one entry over the gap.
  EXPECT_EQ(runs.entries, (std::vector<Entry>{{0, 1, 5}, {2, 0, 2}}));
  auto list = [](const torch::Tensor& t) {
    auto c = t.to(torch::kLong).contiguous();
    return std::vector<int64_t>(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
  };
  EXPECT_EQ(list(runs.q_rows), (std::vector<int64_t>{1, 2, 3, 4, 10, 11}));
  EXPECT_EQ(list(runs.k_rows), (std::vector<int64_t>{0, 1, 2, 3, 4, 10, 11}));
  EXPECT_EQ(list(runs.cu_q), (std::vector<int64_t>{0, 4, 6}));
  EXPECT_EQ(list(runs.cu_k), (std::vector<int64_t>{0, 5, 7}));
  EXPECT_EQ(list(runs.seq_entries), (std::vector<int64_t>{0, 1, 1, 2}));
  EXPECT_EQ(runs.cu_q.scalar_type(), torch::kInt);
  EXPECT_EQ(runs.max_q, 4);
  EXPECT_EQ(runs.max_k, 5);
  EXPECT_EQ(runs.batch, 3);
  EXPECT_EQ(runs.seq_len, 5);
}

TEST(AttentionRuns, RunsFartherApartThanTheMergeGapAreSeparateEntries) {
  const int64_t gap = AttentionRuns::kMergeGapTokens;
  std::string far(2 * gap + 20, 'L'), near = far;
  far[0] = far[gap + 1] = 'A';   // gap tokens between them
  near[0] = near[gap] = 'A';     // gap - 1 tokens between them
  using Entry = std::array<int64_t, 3>;
  EXPECT_EQ(AttentionRuns::from_mask(mask_of({far}), torch::kCPU, false).entries,
            (std::vector<Entry>{{0, 0, 1}, {0, gap + 1, gap + 2}}));
  EXPECT_EQ(AttentionRuns::from_mask(mask_of({near}), torch::kCPU, false).entries, (std::vector<Entry>{{0, 0, gap + 1}}));
}

// The cost model: a sparse schedule keeps its entries; a batch whose sequences with mode-A
// tokens would cost more as entries than densely goes dense, listing those sequences.
TEST(AttentionRuns, DensePlanWhenEntriesWouldCostMore) {
  std::string sparse(2048, 'L'), half(2048, 'L');
  for (int64_t t = 576; t < 2048; t += 640)
    for (int64_t j = 0; j < 64; ++j) sparse[t + j] = 'A';  // every:10:64
  for (int64_t t = 0; t < 1024; ++t) half[t] = 'A';
  EXPECT_FALSE(AttentionRuns::from_mask(mask_of({sparse, sparse}), torch::kCPU).is_dense());
  auto dense = AttentionRuns::from_mask(mask_of({half, std::string(2048, 'L'), std::string(2048, 'A')}), torch::kCPU);
  ASSERT_TRUE(dense.is_dense());
  auto seqs = dense.dense_seqs;
  EXPECT_EQ(std::vector<int64_t>(seqs.data_ptr<int64_t>(), seqs.data_ptr<int64_t>() + seqs.numel()),
            (std::vector<int64_t>{0, 2}));
  EXPECT_FALSE(dense.q_rows.defined());
  // Three of four sequences attending: all four do (no gather of the three).
  auto most = AttentionRuns::from_mask(
      mask_of({half, std::string(2048, 'L'), std::string(2048, 'A'), std::string(2048, 'A')}), torch::kCPU);
  ASSERT_TRUE(most.is_dense());
  EXPECT_EQ(most.dense_seqs.numel(), 4);
}

TEST(AttentionRuns, TokenModesBuildRunsOnlyForMixedCallsThatAskForThem) {
  auto mixed = mask_of({"LAALA", "AAAAA"});
  EXPECT_TRUE(TokenModes::from_mask(mixed, 2, std::nullopt, true).runs.defined());
  EXPECT_FALSE(TokenModes::from_mask(mixed, 2).runs.defined());
  EXPECT_FALSE(TokenModes::from_mask(mask_of({"AAAAA", "AAAAA"}), 2, std::nullopt, true).runs.defined());
  EXPECT_FALSE(TokenModes::from_mask(mask_of({"LLLLL", "LLLLL"}), 2, std::nullopt, true).runs.defined());
}

// Output of every queried token from the per-query reference, packed like runs.q_rows.
torch::Tensor naive_at_runs(const torch::Tensor& q_full, const torch::Tensor& k, const torch::Tensor& v,
                            const AttentionRuns& runs, double scale) {
  int64_t B = k.size(0), T = k.size(1);
  auto o = attention_naive(q_full, k, v, torch::arange(T, torch::kLong), scale);  // [B,T,H,V]
  return o.reshape({B * T, o.size(2), o.size(3)}).index_select(0, runs.q_rows);
}

void check_runs_against_naive(torch::ScalarType dt, double tol) {
  torch::manual_seed(21);
  auto mask = mask_of(awkward_patterns());
  int64_t B = mask.size(0), T = mask.size(1), H = 3, K = 16, V = 16;
  auto runs = AttentionRuns::from_mask(mask, torch::kCPU, false);
  auto q_full = torch::randn({B, T, H, K}).to(dt), k = torch::randn({B, T, H, K}).to(dt);
  auto v = torch::randn({B, T, H, V}).to(dt);
  double scale = 1.0 / std::sqrt(static_cast<double>(K));
  auto q = q_full.reshape({B * T, H, K}).index_select(0, runs.q_rows);
  auto got = attention_runs(q, k.reshape({B * T, H, K}), v.reshape({B * T, H, V}), runs, scale);
  auto want = naive_at_runs(q_full, k, v, runs, scale);
  EXPECT_EQ(got.scalar_type(), dt);
  EXPECT_LE(max_rel_error(got.to(torch::kFloat64), want.to(torch::kFloat64)), tol) << dt;
}

TEST(AttentionRuns, EqualThePerQueryReferenceFp32) { check_runs_against_naive(torch::kFloat32, 1e-5); }
TEST(AttentionRuns, EqualThePerQueryReferenceBf16) { check_runs_against_naive(torch::kBFloat16, 2e-2); }

TEST(AttentionRuns, GradientsEqualThePerQueryReference) {
  torch::manual_seed(22);
  auto mask = mask_of(awkward_patterns());
  int64_t B = mask.size(0), T = mask.size(1), H = 2, K = 8;
  auto runs = AttentionRuns::from_mask(mask, torch::kCPU, false);
  auto opts = torch::TensorOptions().dtype(torch::kFloat64);
  auto q_full = torch::randn({B, T, H, K}, opts).requires_grad_(true);
  auto k = torch::randn({B, T, H, K}, opts).requires_grad_(true);
  auto v = torch::randn({B, T, H, K}, opts).requires_grad_(true);
  auto w = torch::randn({runs.q_rows.size(0), H, K}, opts);
  auto grads = [&](bool use_runs) {
    auto out = use_runs ? attention_runs(q_full.reshape({B * T, H, K}).index_select(0, runs.q_rows),
                                         k.reshape({B * T, H, K}), v.reshape({B * T, H, K}), runs, 0.3)
                        : naive_at_runs(q_full, k, v, runs, 0.3);
    return torch::autograd::grad({(out * w).sum()}, {q_full, k, v});
  };
  auto got = grads(true), want = grads(false);
  for (size_t i = 0; i < 3; ++i) EXPECT_LE(max_rel_error(got[i], want[i]), 1e-10) << "gradient " << i;
}

// Through the model: a training-style forward (no cache) under either plan equals the
// per-token reference forms, logits and gradients.
TEST(AttentionRuns, ModelForwardWithEitherPlanEqualsTheNaiveForms) {
  auto patterns = awkward_patterns();
  std::string first_half(600, 'L');
  for (int64_t t = 0; t < 300; ++t) first_half[t] = 'A';
  struct Case {
    torch::Tensor mask;
    bool dense;
  };
  // Entries that share keys and many short runs; then a batch that is cheaper dense.
  std::vector<Case> cases = {{mask_of({patterns[0], patterns[3]}), false},
                             {mask_of({patterns[2], first_half}), true}};
  for (const char* name : {"oryx-gdn-tiny", "oryx-mamba2-tiny"})
  for (const auto& [mask, dense] : cases) {
    ASSERT_EQ(AttentionRuns::from_mask(mask, torch::kCPU).is_dense(), dense);
    auto cfg = shipped_config(name);
    torch::manual_seed(23);
    OryxModel model(cfg);
    model->to(torch::kFloat64);
    int64_t B = mask.size(0), T = mask.size(1);
    auto tokens = torch::randint(0, cfg.vocab_size, {B, T}, torch::kLong);
    auto run = [&](MixerForm form) {
      model->zero_grad();
      auto logits = model->forward(tokens, mask, nullptr, form);
      logits.pow(2).mean().backward();
      std::vector<torch::Tensor> grads;
      for (const auto& p : model->parameters())
        if (p.grad().defined()) grads.push_back(p.grad().flatten().clone());
      return std::make_pair(logits.detach(), torch::cat(grads));
    };
    auto [fast, fast_grad] = run(MixerForm::Auto);
    auto [naive, naive_grad] = run(MixerForm::Naive);
    EXPECT_LE(max_rel_error(fast, naive), 1e-9) << name << (dense ? " dense" : " entries");
    EXPECT_LE(max_rel_error(fast_grad, naive_grad), 1e-8) << name << (dense ? " dense" : " entries");
  }
}

}  // namespace
}  // namespace oryx::testing
