// Where the fused decoding step (generate/fused_decode.h) does not serve, it says why and the
// decode graphs keep Model::decode_step: on the CPU, and when switched off.
// Its values are checked against decode_step on the device (tests/gpu/gpu_decode_tests.cpp).
#include <gtest/gtest.h>

#include <cstdlib>

#include "oryx/generate/fused_decode.h"
#include "support/models.h"

#ifdef ORYX_WITH_CUDA_KERNELS
namespace oryx::testing {
namespace {

TEST(FusedDecode, SaysWhyItDoesNotServe) {
  auto cfg = shipped_config("oryx-gdn-tiny");
  auto model = model_create(cfg, 1);
  ModelCache cache(cfg, 1, 8, torch::kCPU, torch::kFloat32);
  EXPECT_EQ(FusedDecode::unsupported(*model, cache), "not on a CUDA device");
  setenv("ORYX_FUSED_DECODE", "0", 1);
  EXPECT_EQ(FusedDecode::unsupported(*model, cache), "ORYX_FUSED_DECODE=0");
  unsetenv("ORYX_FUSED_DECODE");
}

}  // namespace
}  // namespace oryx::testing
#endif  // ORYX_WITH_CUDA_KERNELS
