// Contract 3: a mixed-mode forward equals, token by token, the selection between an all-A and
// an all-L forward of the same weights: the modes share everything but the mixer, and a
// token's mixer output depends only on its own mode. This holds exactly for one layer (and a
// one-layer model); deeper layers see different inputs under different schedules.
#include <gtest/gtest.h>

#include "oryx/layer/layer.h"
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

}  // namespace
}  // namespace oryx::testing
