// first_non_finite: the host bit test (CPU tensors) names the same tensor torch::isfinite
// does, for every floating dtype, with the bad value anywhere in a tensor of awkward length.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "oryx/common/finite.h"

namespace oryx::testing {
namespace {

using Named = std::vector<std::pair<std::string, torch::Tensor>>;

TEST(Finite, NamesTheFirstTensorWithNaNOrInf) {
  for (auto dtype : {torch::kFloat32, torch::kFloat64, torch::kBFloat16, torch::kFloat16}) {
    for (double bad : {NAN, INFINITY, -INFINITY}) {
      for (int64_t at : {int64_t{0}, int64_t{65537}, int64_t{100002}}) {
        auto a = torch::randn({100003}).to(dtype);
        auto b = torch::randn({7, 13}).to(dtype);
        auto c = torch::randn({100003}).to(dtype);
        EXPECT_EQ(first_non_finite(Named{{"a", a}, {"b", b}, {"c", c}}), "") << dtype;
        c[at] = bad;
        EXPECT_EQ(first_non_finite(Named{{"a", a}, {"b", b}, {"c", c}}), "c") << dtype << " " << bad << " " << at;
        b[6][12] = bad;
        EXPECT_EQ(first_non_finite(Named{{"a", a}, {"b", b}, {"c", c}}), "b") << dtype;
        // Not contiguous: the reduction on torch's side.
        EXPECT_EQ(first_non_finite(Named{{"a", a}, {"bt", b.t()}}), "bt") << dtype;
      }
    }
  }
}

TEST(Finite, ExtremeFiniteValuesPassAndIntegersAreSkipped) {
  auto f = torch::tensor({std::numeric_limits<float>::max(), -std::numeric_limits<float>::max(),
                          std::numeric_limits<float>::denorm_min(), 0.0f, -0.0f});
  auto d = torch::tensor({std::numeric_limits<double>::max(), std::numeric_limits<double>::denorm_min()},
                         torch::kFloat64);
  auto i = torch::full({5}, 0x7f800000, torch::kInt32);  // Inf's bits, as an integer
  EXPECT_EQ(first_non_finite(Named{{"f", f}, {"f16", f.narrow(0, 2, 3).to(torch::kFloat16)},
                                   {"bf16", torch::tensor({3.3e38f, -3.3e38f, 1e-40f}).to(torch::kBFloat16)}, {"d", d}, {"i", i}, {"empty", torch::empty({0})}}),
            "");
}

// Random bit patterns (NaNs of every payload, infinities, subnormals): the bit test agrees
// with torch::isfinite on every one.
TEST(Finite, AgreesWithTorchOnRandomBitPatterns) {
  torch::manual_seed(5);
  auto bits = torch::randint(std::numeric_limits<int32_t>::min(), std::numeric_limits<int32_t>::max(), {4096},
                             torch::kInt32);
  auto floats = bits.view(torch::kFloat32);
  auto halves = bits.view(torch::kFloat16);
  for (const auto& t : {floats, halves, bits.view(torch::kBFloat16)})
    for (int64_t j = 0; j < t.numel(); j += 1) {
      auto one = t.narrow(0, j, 1);
      bool torch_finite = torch::isfinite(one).all().item<bool>();
      EXPECT_EQ(first_non_finite(Named{{"x", one}}).empty(), torch_finite) << t.scalar_type() << " at " << j;
    }
}

}  // namespace
}  // namespace oryx::testing
