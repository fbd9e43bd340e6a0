// NaN or Inf logits never turn into tokens: argmax and the sort behind top-k/top-p cannot
// order a NaN, so before these checks greedy decoding of a broken model returned token 0
// forever. The sampler refuses such logits, and generate() names the token it was at.
#include <gtest/gtest.h>

#include "oryx/common/error.h"
#include "oryx/generate/generate.h"
#include "support/models.h"

namespace oryx::testing {
namespace {

TEST(SamplingNonFinite, NaNOrPositiveInfLogitsAreAnError) {
  std::mt19937_64 rng(1);
  SamplingOptions greedy;
  greedy.temperature = 0;
  SamplingOptions sampled;
  sampled.top_k = 2;
  for (const auto& o : {greedy, sampled}) {
    EXPECT_THROW(sampling_pick(torch::tensor({NAN, 1.0f, 2.0f}), o, rng), Error);
    EXPECT_THROW(sampling_pick(torch::tensor({1.0f, INFINITY, 2.0f}), o, rng), Error);
    EXPECT_THROW(sampling_pick(torch::tensor({-INFINITY, -INFINITY}), o, rng), Error);
    // -Inf is how ids are masked out; the rest are picked from as usual.
    EXPECT_EQ(sampling_pick(torch::tensor({-INFINITY, 5.0f, -INFINITY}), o, rng), 1);
  }
}

TEST(SamplingNonFinite, GenerateNamesTheTokenWhereLogitsWentNaN) {
  auto model = model_create(shipped_config("transformer-tiny"), 1);
  model->eval();
  {
    torch::NoGradGuard no_grad;
    model->named_parameters()["final_norm"].fill_(NAN);
  }
  GenerateOptions g;
  g.max_new = 4;
  g.sampling.temperature = 0;
  try {
    generate(model, torch::tensor({{1, 2, 3}}, torch::kLong), schedule_parse("all-A"), g);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("logits hold NaN or Inf at generated token 1 (position 3)"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace oryx::testing
