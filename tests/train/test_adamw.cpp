// AdamW against the update written out in fp64 in this test, on the test device (the CUDA
// path uses torch's fused kernel, the CPU path our own loop), and its state round trip.
#include <gtest/gtest.h>

#include "oryx/common/error.h"
#include "oryx/train/adamw.h"
#include "support/models.h"
#include "support/tolerance.h"

namespace oryx::testing {
namespace {

TEST(TrainAdamW, MatchesTheFormula) {
  seed(31);
  auto dev = test_device();
  AdamWOptions o;
  o.lr = 1e-2;
  o.weight_decay = 0.1;
  auto w = torch::randn({5, 3}).to(dev), n = torch::randn({3}).to(dev);  // "w" decays, a norm does not
  std::vector<std::pair<std::string, torch::Tensor>> params = {{"layers.0.w_k", w}, {"layers.0.norm1", n}};
  AdamW opt(params, o);
  // The reference, in fp64 on the CPU.
  std::vector<torch::Tensor> p = {w.cpu().to(torch::kFloat64), n.cpu().to(torch::kFloat64)};
  std::vector<torch::Tensor> m = {torch::zeros_like(p[0]), torch::zeros_like(p[1])};
  std::vector<torch::Tensor> v = {torch::zeros_like(p[0]), torch::zeros_like(p[1])};
  for (int step = 1; step <= 5; ++step) {
    double lr = o.lr * step / 5.0;
    std::vector<torch::Tensor> grads = {torch::randn({5, 3}), torch::randn({3})};
    w.mutable_grad() = grads[0].to(dev);
    n.mutable_grad() = grads[1].to(dev);
    opt.step(lr);
    for (int i = 0; i < 2; ++i) {
      auto g = grads[i].to(torch::kFloat64);
      m[i] = o.beta1 * m[i] + (1 - o.beta1) * g;
      v[i] = o.beta2 * v[i] + (1 - o.beta2) * g * g;
      double decay = i == 0 ? o.weight_decay : 0.0;
      auto mhat = m[i] / (1 - std::pow(o.beta1, step)), vhat = v[i] / (1 - std::pow(o.beta2, step));
      p[i] = p[i] * (1 - lr * decay) - lr * mhat / (vhat.sqrt() + o.eps);
    }
    EXPECT_LE(max_rel_error(w, p[0]), 1e-5) << "step " << step;
    EXPECT_LE(max_rel_error(n, p[1]), 1e-5) << "step " << step;
  }
  EXPECT_EQ(opt.steps(), 5);
}

TEST(TrainAdamW, ZeroGradDropsGradientsAndStepSkipsParametersWithout) {
  // Set to none, as torch's optimizers do: a parameter the next backward does not reach keeps
  // its weights and moments (no decay, no update), one it reaches is updated.
  auto dev = test_device();
  AdamWOptions o;
  auto a = torch::ones({4}).to(dev), b = torch::ones({4}).to(dev);
  AdamW opt({{"layers.0.w_k", a}, {"layers.0.w_v", b}}, o);
  a.mutable_grad() = torch::ones({4}).to(dev);
  b.mutable_grad() = torch::ones({4}).to(dev);
  opt.step(0.1);
  opt.zero_grad();
  EXPECT_FALSE(a.grad().defined());
  EXPECT_FALSE(b.grad().defined());
  auto b_before = b.clone();
  a.mutable_grad() = torch::ones({4}).to(dev);
  opt.step(0.1);
  EXPECT_TRUE(torch::equal(b, b_before));
  EXPECT_FALSE(torch::equal(a, b));
}

TEST(TrainAdamW, DecayGroupsAndStateRoundTrip) {
  AdamWOptions o;
  EXPECT_TRUE(adamw_decays("layers.3.w_o", o));
  EXPECT_TRUE(adamw_decays("lm_head", o));
  for (const char* name : {"embed", "final_norm", "layers.0.attn.q_norm", "layers.1.lin.A_log",
                           "layers.1.lin.dt_bias", "layers.1.lin.D", "layers.0.out_norm"})
    EXPECT_FALSE(adamw_decays(name, o)) << name;
  o.decay_embeddings = true;
  EXPECT_TRUE(adamw_decays("embed", o));

  auto a = torch::randn({4});
  AdamW opt({{"a", a}}, {});
  a.mutable_grad() = torch::randn({4});
  opt.step(1e-3);
  auto state = opt.state();
  auto b = a.detach().clone();
  AdamW again({{"a", b}}, {});
  again.load_state(state, "test");
  EXPECT_EQ(again.steps(), 1);
  auto wrong = state;
  wrong[1].second = torch::zeros({5});
  EXPECT_THROW(again.load_state(wrong, "test"), Error);
  EXPECT_THROW(again.load_state({state[0]}, "test"), Error);
}

// Loads `state` into a fresh optimizer of one parameter "a" [4], expecting an error containing
// `part` and the optimizer left as it was.
void expect_state_error(const std::vector<std::pair<std::string, torch::Tensor>>& state, const std::string& part) {
  auto a = torch::zeros({4});
  AdamW opt({{"a", a}}, {});
  try {
    opt.load_state(state, "ckpt/optimizer.safetensors");
    ADD_FAILURE() << "no error, expected: " << part;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("ckpt/optimizer.safetensors: " + part), std::string::npos) << e.what();
  }
  EXPECT_EQ(opt.steps(), 0);
  for (const auto& [name, t] : opt.state()) {
    if (name != "step") {
      EXPECT_TRUE(torch::equal(t, torch::zeros({4}))) << name << " was modified";
    }
  }
}

TEST(TrainAdamW, LoadStateRefusesWrongDtypesNegativeStepAndNonFiniteMoments) {
  auto a = torch::randn({4});
  AdamW opt({{"a", a}}, {});
  a.mutable_grad() = torch::randn({4});
  opt.step(1e-3);
  const auto good = opt.state();  // step, exp_avg.a, exp_avg_sq.a
  auto edit = [&](size_t i, torch::Tensor t) {
    auto s = good;
    s[i].second = t;
    return s;
  };
  expect_state_error(edit(0, torch::tensor({1}, torch::kInt)), "optimizer tensor 'step' has dtype I32, expected I64");
  expect_state_error(edit(0, torch::tensor({int64_t{-3}})), "optimizer step is -3, expected a count >= 0");
  expect_state_error(edit(1, good[1].second.to(torch::kInt)),
                     "optimizer tensor 'exp_avg.a' has dtype I32, expected F32");
  expect_state_error(edit(1, torch::tensor({1.0f, NAN, 0.0f, 0.0f})), "optimizer tensor 'exp_avg.a' holds NaN or Inf");
  expect_state_error(edit(2, torch::tensor({1.0f, INFINITY, 0.0f, 0.0f})),
                     "optimizer tensor 'exp_avg_sq.a' holds NaN or Inf");
  expect_state_error(edit(2, torch::tensor({1.0f, -1.0f, 0.0f, 0.0f})),
                     "optimizer tensor 'exp_avg_sq.a' holds negative values");
}

}  // namespace
}  // namespace oryx::testing
