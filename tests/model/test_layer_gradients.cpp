// Contract 4 for the layer: autograd gradients of a tiny fp64 Oryx layer, with respect to
// its input, every parameter and the recurrent state carried in from a cache, match central
// finite differences, in mode A, mode L and mixed, for both linear variants.
#include <gtest/gtest.h>

#include "oryx/layer/layer.h"
#include "support/inputs.h"
#include "support/tolerance.h"

namespace oryx::testing {
namespace {

ModelConfig tiny_layer_config(LinearKind linear) {
  ModelConfig c;
  c.name = "fd-layer";
  c.kind = ModelKind::Oryx;
  c.linear = linear;
  c.vocab_size = 16;
  c.d_model = 6;
  c.n_layers = 1;
  c.n_heads = 2;
  c.head_dim_k = 4;
  c.head_dim_v = 3;
  c.mlp_hidden = 8;
  c.conv_kernel = 3;
  c.chunk_size = 4;
  c.kv_conv_silu = linear == LinearKind::GatedDeltaNet;
  c.k_l2norm = linear == LinearKind::GatedDeltaNet;
  c.init_std = 0.5;  // large weights so every path carries signal
  c.max_seq_len = 64;
  return c;
}

struct GradCase {
  LinearKind linear;
  const char* modes;  // "A", "L" or "mixed"
};
void PrintTo(const GradCase& c, std::ostream* os) { *os << to_string(c.linear) << " modes " << c.modes; }

class LayerGradients : public ::testing::TestWithParam<GradCase> {};

TEST_P(LayerGradients, MatchFiniteDifferences) {
  auto p = GetParam();
  auto c = tiny_layer_config(p.linear);
  torch::manual_seed(21);
  OryxLayer layer(c);
  layer->to(torch::kFloat64);
  const int64_t B = 1, T = 7;
  auto h = torch::randn({B, T, c.d_model}, torch::kFloat64).requires_grad_(true);
  std::string m = p.modes;
  auto mask = m == "A" ? torch::ones({B, T}, torch::kBool)
              : m == "L" ? torch::zeros({B, T}, torch::kBool)
                         : torch::tensor({1, 0, 0, 1, 1, 0, 1}, torch::kBool).view({B, T});
  auto modes = TokenModes::from_mask(mask, B);
  auto w = torch::randn({B, T, c.d_model}, torch::kFloat64);
  // A cache with a few earlier tokens, so that the carried state, convolution windows and
  // KV entries all take part; the recurrent state is a differentiable input.
  ModelCache cache_template(c, B, 16, torch::kCPU, torch::kFloat64);
  auto state0 = (torch::randn({B, c.n_heads, c.head_dim_k, c.head_dim_v}, torch::kFloat64) * 0.3)
                    .requires_grad_(true);
  auto prev_h = torch::randn({B, 3, c.d_model}, torch::kFloat64);
  auto loss = [&] {
    ModelCache cache = cache_template;
    auto& lc = cache.layer(0);
    for (auto* t : {&lc.k, &lc.v, &lc.conv_k, &lc.conv_v, &lc.conv_q}) *t = t->clone();
    lc.state = state0;
    {
      auto prev_modes = TokenModes::from_mask(torch::tensor({1, 0, 1}, torch::kBool), B);
      layer->forward({prev_h, {}}, prev_modes, torch::arange(3, torch::kLong), &lc, 0, MixerForm::Auto);
    }
    auto r = layer->forward({h, {}}, modes, torch::arange(3, 3 + T, torch::kLong), &lc, 3, MixerForm::Auto);
    auto out = r.h + r.delta;
    return (out * w).sum() + (lc.state * 0.7).sum();
  };
  std::vector<torch::Tensor> inputs = {h, state0};
  std::vector<std::string> names = {"input", "initial_state"};
  for (const auto& np : layer->named_parameters()) {
    inputs.push_back(np.value());
    names.push_back(np.key());
  }
  auto grads = torch::autograd::grad({loss()}, inputs, {}, false, false, /*allow_unused=*/true);
  for (size_t i = 0; i < inputs.size(); ++i) {
    bool unused = !grads[i].defined();
    // Parameters of the mode no token uses get no gradient; everything else must.
    bool mode_param = names[i].rfind("attn.", 0) == 0 || names[i].rfind("lin.", 0) == 0;
    if (unused) {
      EXPECT_TRUE(mode_param) << names[i] << " got no gradient";
      continue;
    }
    double err = finite_difference_error(loss, inputs[i].detach(), grads[i]);
    EXPECT_LE(err, 1e-6) << to_string(p.linear) << " modes " << p.modes << " d/d" << names[i];
  }
}

INSTANTIATE_TEST_SUITE_P(Contract4, LayerGradients,
                         ::testing::Values(GradCase{LinearKind::GatedDeltaNet, "A"},
                                           GradCase{LinearKind::GatedDeltaNet, "L"},
                                           GradCase{LinearKind::GatedDeltaNet, "mixed"},
                                           GradCase{LinearKind::Mamba2, "A"},
                                           GradCase{LinearKind::Mamba2, "L"},
                                           GradCase{LinearKind::Mamba2, "mixed"}),
                         [](const ::testing::TestParamInfo<GradCase>& info) {
                           return std::string(to_string(info.param.linear)) + "_" + info.param.modes;
                         });

}  // namespace
}  // namespace oryx::testing
