// What generate() changes for its duration and must give back: the SDPA backend switch
// (SdpaWithoutCudnn, set while prompts are prefilled) returns to the caller's setting, even
// when generate() throws; the model's tensors can still be trained after a generate() in
// inference mode.
#include <ATen/Context.h>
#include <gtest/gtest.h>

#include "oryx/common/error.h"
#include "oryx/generate/generate.h"
#include "oryx/mixers/attention/attention.h"
#include "oryx/model/model.h"
#include "oryx/schedule/schedule.h"
#include "support/models.h"

namespace oryx::testing {
namespace {

TEST(GenerateScope, SdpaWithoutCudnnSetsAndRestores) {
  auto& ctx = at::globalContext();
  const bool before = ctx.userEnabledCuDNNSDP();
  for (bool caller : {true, false}) {
    ctx.setSDPUseCuDNN(caller);
    {
      SdpaWithoutCudnn outer;
      EXPECT_FALSE(ctx.userEnabledCuDNNSDP());
      {
        SdpaWithoutCudnn inner;
        EXPECT_FALSE(ctx.userEnabledCuDNNSDP());
      }
      EXPECT_FALSE(ctx.userEnabledCuDNNSDP());
    }
    EXPECT_EQ(ctx.userEnabledCuDNNSDP(), caller);
  }
  ctx.setSDPUseCuDNN(before);
}

TEST(GenerateScope, GenerateLeavesTheBackendAndTheModelTrainable) {
  auto model = model_create(shipped_config("oryx-gdn-tiny"), 1);
  auto& ctx = at::globalContext();
  const bool before = ctx.userEnabledCuDNNSDP();
  ctx.setSDPUseCuDNN(true);
  GenerateOptions g;
  g.max_new = 4;
  g.sampling.temperature = 0;
  auto prompt = torch::tensor({{3, 1, 4, 1, 5}});
  generate(model, prompt, schedule_parse("last:2"), g);
  EXPECT_TRUE(ctx.userEnabledCuDNNSDP());
  // Refused inside the prefill, with the switch set: an id past the vocabulary.
  EXPECT_THROW(generate(model, torch::tensor({{3, 1, 1 << 30}}), schedule_parse("all-A"), g), Error);
  EXPECT_TRUE(ctx.userEnabledCuDNNSDP());
  ctx.setSDPUseCuDNN(before);

  // Inference mode inside generate() made no inference tensors of the model's own.
  auto loss = model->forward(prompt, torch::tensor({true, false, true, false, true})).logsumexp(-1).mean();
  loss.backward();
  for (const auto& p : model->parameters()) EXPECT_FALSE(p.is_inference());
  EXPECT_TRUE(model->parameters().front().grad().defined());
}

}  // namespace
}  // namespace oryx::testing
