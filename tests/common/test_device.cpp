// device_parse: the parser behind every --device flag and the run files' `device` key.
#include <gtest/gtest.h>

#include <torch/cuda.h>

#include "oryx/common/device.h"
#include "oryx/common/error.h"

namespace oryx::testing {
namespace {

TEST(DeviceParse, AcceptsCpuAndAutoAndRefusesTheRest) {
  EXPECT_TRUE(device_parse("cpu").is_cpu());
  EXPECT_EQ(device_parse("auto").is_cuda(), torch::cuda::is_available());
  for (const char* bad : {"tpu", "gpu0", "", "meta"}) {
    try {
      device_parse(bad);
      ADD_FAILURE() << "accepted device '" << bad << "'";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(std::string("'") + bad + "'"), std::string::npos) << e.what();
    }
  }
  if (!torch::cuda::is_available()) {
    EXPECT_THROW(device_parse("cuda:0"), Error);
  }
}

}  // namespace
}  // namespace oryx::testing
