// Model::decode_step, the body the CUDA decode graphs capture (generate/decode_graph.h): on
// the same cache it gives forward()'s logits token after token, in either mode and across
// mode switches, though it takes the per-sequence path (positions read from the device
// lengths, keys masked over the whole capacity) and never advances the cache itself. fp64.
#include <gtest/gtest.h>

#include "oryx/model/model.h"
#include "support/models.h"
#include "support/tolerance.h"

namespace oryx::testing {
namespace {

class DecodeStep : public ::testing::TestWithParam<std::string> {};

TEST_P(DecodeStep, EqualsForwardTokenAfterToken) {
  auto cfg = shipped_config(GetParam());
  auto model = model_create(cfg, 3);
  model->to(torch::kFloat64);
  torch::NoGradGuard no_grad;
  const int64_t B = 2, P = 11, steps = 6;
  const bool can_a = cfg.kind != ModelKind::Linear, can_l = cfg.kind != ModelKind::Transformer;
  ModelCache eager(cfg, B, P + steps, torch::kCPU, torch::kFloat64), stepped(cfg, B, P + steps, torch::kCPU,
                                                                           torch::kFloat64);
  auto prompt = torch::randint(0, cfg.vocab_size, {B, P}, torch::kLong);
  auto prompt_modes = torch::full({P}, can_a, torch::kBool);
  model->forward(prompt, prompt_modes, &eager);
  model->forward(prompt, prompt_modes, &stepped);
  for (int64_t i = 0; i < steps; ++i) {
    bool mode_a = can_a && (!can_l || i % 3 != 1);  // Oryx models switch modes along the way
    auto mask = torch::full({B, 1}, mode_a, torch::kBool);
    auto tokens = torch::randint(0, cfg.vocab_size, {B, 1}, torch::kLong);
    auto want = model->forward(tokens, mask, &eager).select(1, 0);
    auto got = model->decode_step(tokens, TokenModes::from_mask(mask, B), stepped);
    EXPECT_EQ(stepped.length(), P + i) << "decode_step must not advance the cache";
    stepped.advance(1);
    EXPECT_LE(max_rel_error(got, want), 1e-11) << GetParam() << " step " << i << (mode_a ? " A" : " L");
  }
}

INSTANTIATE_TEST_SUITE_P(Kinds, DecodeStep,
                         ::testing::Values("transformer-tiny", "gdn-tiny", "mamba2-tiny", "oryx-gdn-tiny",
                                           "oryx-mamba2-tiny"),
                         [](const auto& info) {
                           std::string s = info.param;
                           std::replace(s.begin(), s.end(), '-', '_');
                           return s;
                         });

}  // namespace
}  // namespace oryx::testing
