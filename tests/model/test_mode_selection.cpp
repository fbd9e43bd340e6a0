// Contract 3: a mixed-mode forward equals, token by token, the selection between an all-A and
// an all-L forward of the same weights: the modes share everything but the mixer, and a
// token's mixer output depends only on its own mode. This holds exactly for one layer (and a
// one-layer model); deeper layers see different inputs under different schedules.
#include <gtest/gtest.h>

#include "oryx/layer/layer.h"
#include "oryx/model/head_loss.h"
#include "oryx/model/model.h"
#include "support/models.h"
#include "support/tolerance.h"

namespace oryx::testing {
namespace {

TEST(ModeSelection, LayerMixedEqualsPerTokenSelection) {
  for (const char* name : {"oryx-gdn-tiny", "oryx-mamba2-tiny"}) {
    auto cfg = shipped_config(name);
    torch::manual_seed(8);
    OryxLayer layer(cfg);
    auto dev = test_device();
    layer->to(dev, torch::kFloat64);
    torch::NoGradGuard no_grad;
    const int64_t B = 3, T = 45;
    auto h = torch::randn({B, T, cfg.d_model}, torch::kFloat64).to(dev);
    auto positions = torch::arange(T, torch::kLong).to(dev);
    auto mixed = (torch::rand({B, T}) < 0.4).to(dev);
    auto run = [&](const torch::Tensor& mask) {
      auto r = layer->forward({h, {}}, TokenModes::from_mask(mask, B), positions, nullptr, 0, MixerForm::Auto);
      return r.h + r.delta;  // the stream's value (the MLP output is added by the next norm)
    };
    auto out_mixed = run(mixed);
    auto out_a = run(torch::ones({B, T}, torch::TensorOptions(torch::kBool).device(dev)));
    auto out_l = run(torch::zeros({B, T}, torch::TensorOptions(torch::kBool).device(dev)));
    auto selected = torch::where(mixed.unsqueeze(-1), out_a, out_l);
    EXPECT_LE(max_rel_error(out_mixed, selected), 1e-12) << name;
    // And the modes really differ, so the test has teeth.
    EXPECT_GT(max_rel_error(out_a, out_l), 1e-3) << name;
  }
}

TEST(ModeSelection, OneLayerModelMixedEqualsPerTokenSelection) {
  auto cfg = shipped_config("oryx-gdn-tiny");
  cfg.n_layers = 1;
  auto model = model_create(cfg, 9);
  auto dev = test_device();
  model->to(dev, torch::kFloat64);
  torch::NoGradGuard no_grad;
  auto tokens = torch::randint(0, cfg.vocab_size, {2, 30}, torch::kLong).to(dev);
  auto mixed = (torch::rand({2, 30}) < 0.5).to(dev);
  auto out_mixed = model->forward(tokens, mixed);
  auto out_a = model->forward(tokens, torch::ones({30}, torch::TensorOptions(torch::kBool).device(dev)));
  auto out_l = model->forward(tokens, torch::zeros({30}, torch::TensorOptions(torch::kBool).device(dev)));
  EXPECT_LE(max_rel_error(out_mixed, torch::where(mixed.unsqueeze(-1), out_a, out_l)), 1e-12);
}

TEST(ModeSelection, ModesForAnyMixedMaskEqualTheMasksOwn) {
  // The mask-independent form a CUDA graph replays for the training sampler's batches (both
  // mixers everywhere, dense attention over every sequence, the mask as device data) gives
  // the loss and gradients of the mask's own modes, for masks whose own plan is sparse entries
  // (sequence 1 all L, short runs) and dense, and for a mask written into the same buffer
  // after another.
  for (const char* name : {"oryx-gdn-tiny", "oryx-mamba2-tiny"}) {
    auto cfg = shipped_config(name);
    auto dev = test_device();
    const int64_t B = 4, T = 70;
    auto tokens = torch::randint(0, cfg.vocab_size, {B, T}, torch::kLong).to(dev);
    auto targets = torch::randint(0, cfg.vocab_size, {B, T}, torch::kLong).to(dev);
    auto any = TokenModes::for_any_mixed_mask(B, T, dev);
    auto sparse = torch::zeros({B, T}, torch::kBool);
    sparse[0].narrow(0, 10, 5).fill_(true);
    sparse[2].narrow(0, 60, 10).fill_(true);
    auto dense = torch::rand({B, T}) < 0.5;
    for (const auto& mask : {sparse, dense}) {
      auto grads = [&](const TokenModes& modes) {
        auto model = model_create(cfg, 9);
        model->to(dev, torch::kFloat64);
        auto loss = model_loss(model, tokens, modes, targets);
        loss.backward();
        std::vector<torch::Tensor> out{loss.detach().reshape({1})};
        for (const auto& p : model->parameters())
          out.push_back(p.grad().defined() ? p.grad().reshape({-1}) : torch::zeros({p.numel()}, p.options()));
        return torch::cat(out);
      };
      any.is_attention.copy_(mask);
      auto own = TokenModes::from_mask(mask, B, dev, /*with_runs=*/true);
      EXPECT_LE(max_rel_error(grads(any), grads(own)), 1e-10) << name;
    }
    EXPECT_THROW(TokenModes::for_any_mixed_mask(B, 1, dev), std::exception);
  }
}

}  // namespace
}  // namespace oryx::testing
