// The fused, chunked head + cross-entropy (model/head_loss.h) against token_loss of the
// full logits, the definition it replaces: values and gradients at awkward sizes, with
// ignored targets, several chunks and one, fp64 and fp32.
#include <gtest/gtest.h>

#include "oryx/eval/loss.h"
#include "oryx/model/head_loss.h"
#include "support/models.h"
#include "support/tolerance.h"

namespace oryx::testing {
namespace {

struct Grads {
  torch::Tensor loss, dh, dw;
};

Grads run(bool fused, const torch::Tensor& h0, const torch::Tensor& w0, const torch::Tensor& t, int64_t chunk) {
  auto h = h0.clone().requires_grad_(true), w = w0.clone().requires_grad_(true);
  auto loss = fused ? linear_cross_entropy(h, w, t, kIgnoreIndex, chunk)
                    : token_loss(torch::nn::functional::linear(h, w), t);
  (loss * 1.7).backward();
  return {loss.detach(), h.grad(), w.grad()};
}

TEST(HeadLoss, MatchesTokenLossOfFullLogits) {
  for (auto dt : {torch::kFloat64, torch::kFloat32}) {
    double tol = dt == torch::kFloat64 ? kTolF64 : kTolF32;
    for (int64_t chunk : {1, 8, 1000}) {
      seed(3);
      const int64_t N = 37, D = 24, V = 101;
      auto h = torch::randn({N, D}, dt), w = torch::randn({V, D}, dt) * 0.3;
      auto t = torch::randint(V, {N}, torch::kLong);
      t.index_put_({torch::arange(0, N, 5)}, kIgnoreIndex);  // every fifth target ignored
      auto f = run(true, h, w, t, chunk), r = run(false, h, w, t, chunk);
      EXPECT_LT(max_rel_error(f.loss, r.loss), tol) << dt << " chunk " << chunk;
      EXPECT_LT(max_rel_error(f.dh, r.dh), tol) << dt << " chunk " << chunk;
      EXPECT_LT(max_rel_error(f.dw, r.dw), tol) << dt << " chunk " << chunk;
    }
  }
}

TEST(HeadLoss, EveryTargetIgnoredIsZeroWithZeroGradients) {
  auto h = torch::randn({4, 8}), w = torch::randn({11, 8});
  auto t = torch::full({4}, kIgnoreIndex, torch::kLong);
  auto f = run(true, h, w, t, 2);
  EXPECT_EQ(f.loss.item<double>(), 0.0);
  EXPECT_EQ(f.dh.abs().max().item<double>(), 0.0);
  EXPECT_EQ(f.dw.abs().max().item<double>(), 0.0);
}

TEST(HeadLoss, ModelLossEqualsLossOfForward) {
  for (const char* name : {"oryx-gdn-tiny", "transformer-tiny"}) {
    auto cfg = shipped_config(name);
    auto model = model_create(cfg, 5);
    seed(4);
    auto tokens = torch::randint(cfg.vocab_size, {2, 19}, torch::kLong);
    auto targets = torch::randint(cfg.vocab_size, {2, 19}, torch::kLong);
    torch::Tensor modes;
    if (cfg.kind == ModelKind::Oryx) modes = torch::rand({2, 19}) < 0.5;
    auto fused = model_loss(model, tokens, modes, targets);
    auto plain = token_loss(model->forward(tokens, modes), targets);
    EXPECT_LT(max_rel_error(fused.detach(), plain.detach()), kTolF32) << name;
  }
}

}  // namespace
}  // namespace oryx::testing
