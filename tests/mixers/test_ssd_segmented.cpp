// ssd_segmented (mixers/mamba2/segmented.cpp) against the unsegmented chunked form: the same
// outputs, final state and gradients at lengths that do not fill the last segment or chunk,
// with and without an initial state, in fp64 (tight), fp32 and bf16 (judged against the
// unsegmented form's own error).
#include <gtest/gtest.h>

#include "oryx/mixers/mamba2/mamba2.h"
#include "support/inputs.h"
#include "oryx/common/error.h"
#include "support/tolerance.h"

namespace oryx::testing {
namespace {

constexpr int64_t kChunk = 16;

SsdSegmentForward chunked_forward(double scale) {
  return [scale](const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, const torch::Tensor& g,
                 const torch::Tensor& beta, const torch::Tensor& h0) {
    return ssd_chunked(q, k, v, g, beta, h0, scale, kChunk);
  };
}

TEST(SsdSegmented, EqualsTheChunkedFormFp64) {
  for (int64_t T : {1, 15, 16, 47, 48, 49, 200})
    for (int64_t segment : {16, 32, 48})
      for (bool with_state : {false, true}) {
        seed(100 + T + segment);
        auto in = make_recurrence_inputs(LinearOp::Mamba2, 2, T, 3, 8, 4, torch::kFloat64, with_state);
        auto ref = ssd_chunked(in.q, in.k, in.v, in.g, in.beta, in.initial_state, in.scale, kChunk);
        auto seg = ssd_segmented(in.q, in.k, in.v, in.g, in.beta, in.initial_state, in.scale, segment,
                                 chunked_forward(in.scale));
        ASSERT_EQ(seg.o.sizes(), ref.o.sizes());
        ASSERT_EQ(seg.state.sizes(), ref.state.sizes());
        EXPECT_LE(max_rel_error(seg.o, ref.o), kTolF64) << "T " << T << " segment " << segment << " state " << with_state;
        EXPECT_LE(max_rel_error(seg.state, ref.state), kTolF64) << "T " << T << " segment " << segment;
      }
}

TEST(SsdSegmented, GradientsEqualTheChunkedForms) {
  for (bool with_state : {false, true}) {
    seed(7);
    const int64_t T = 75, segment = 32;
    auto in = make_recurrence_inputs(LinearOp::Mamba2, 2, T, 2, 4, 3, torch::kFloat64, with_state);
    auto w_o = torch::randn({2, T, 2, 3}, torch::kFloat64);
    auto w_s = torch::randn({2, 2, 4, 3}, torch::kFloat64);
    auto grads = [&](bool segmented) {
      auto inputs = in.all();
      std::vector<torch::Tensor> leaves;
      for (auto& t : inputs)
        if (t.defined()) leaves.push_back(t = t.detach().clone().requires_grad_(true));
      auto r = segmented ? ssd_segmented(inputs[0], inputs[1], inputs[2], inputs[3], inputs[4], inputs[5], in.scale,
                                         segment, chunked_forward(in.scale))
                         : ssd_chunked(inputs[0], inputs[1], inputs[2], inputs[3], inputs[4], inputs[5], in.scale, kChunk);
      ((r.o * w_o).sum() + (r.state * w_s).sum()).backward();
      std::vector<torch::Tensor> out;
      for (auto& t : leaves) out.push_back(t.grad());
      return out;
    };
    auto ref = grads(false), seg = grads(true);
    ASSERT_EQ(ref.size(), seg.size());
    const char* names[] = {"q", "k", "v", "g", "beta", "initial_state"};
    for (size_t i = 0; i < ref.size(); ++i)
      EXPECT_LE(max_rel_error(seg[i], ref[i]), kTolF64) << names[i] << " with state " << with_state;
  }
}

// Lower precisions: no worse than twice the unsegmented form's own error against fp64.
TEST(SsdSegmented, Fp32AndBf16StayWithinTheChunkedFormsError) {
  for (auto dtype : {torch::kFloat32, torch::kBFloat16}) {
    seed(21);
    auto in = make_recurrence_inputs(LinearOp::Mamba2, 1, 333, 4, 16, 16, dtype, true);
    auto f64 = [](const torch::Tensor& t) { return t.to(torch::kFloat64); };
    auto exact = ssd_chunked(f64(in.q), f64(in.k), f64(in.v), f64(in.g), f64(in.beta), f64(in.initial_state),
                             in.scale, kChunk);
    auto ref = ssd_chunked(in.q, in.k, in.v, in.g, in.beta, in.initial_state, in.scale, kChunk);
    auto seg = ssd_segmented(in.q, in.k, in.v, in.g, in.beta, in.initial_state, in.scale, 64,
                             chunked_forward(in.scale));
    EXPECT_EQ(seg.o.scalar_type(), dtype);
    EXPECT_EQ(seg.state.scalar_type(), torch::kFloat32);
    const double floor = dtype == torch::kFloat32 ? 1e-6 : 1e-3;
    EXPECT_LE(max_rel_error(seg.o, exact.o), 2 * max_rel_error(ref.o, exact.o) + floor) << dtype;
    EXPECT_LE(max_rel_error(seg.state, exact.state), 2 * max_rel_error(ref.state, exact.state) + 1e-6) << dtype;
  }
}

// The kernels' policy on an H200 (132 multiprocessors): segments only where the state pass
// would leave the GPU mostly idle, each of at least 8 chunks of 64.
TEST(SsdSegmented, SegmentLengthPolicy) {
  EXPECT_EQ(ssd_segment_len_for(8, 2048, 16, 128, 132), 0);       // 256 blocks already
  EXPECT_EQ(ssd_segment_len_for(4, 4096, 16, 128, 132), 0);       // 128 blocks (256 of 32 columns)
  EXPECT_EQ(ssd_segment_len_for(1, 32768, 16, 128, 132), 57 * 64);  // 32 blocks: 9 segments of 57 chunks
  EXPECT_EQ(ssd_segment_len_for(2, 8192, 16, 128, 132), 26 * 64);   // 64 blocks: 5 segments
  EXPECT_EQ(ssd_segment_len_for(1, 1792, 16, 128, 132), 10 * 64);   // 28 chunks: 3 segments
  EXPECT_EQ(ssd_segment_len_for(1, 960, 16, 128, 132), 0);         // 15 chunks: too short to split
}

TEST(SsdSegmented, RefusesANonPositiveSegment) {
  auto in = make_recurrence_inputs(LinearOp::Mamba2, 1, 8, 1, 4, 4, torch::kFloat64, false);
  EXPECT_THROW(ssd_segmented(in.q, in.k, in.v, in.g, in.beta, in.initial_state, in.scale, 0, chunked_forward(1.0)),
               Error);
}

}  // namespace
}  // namespace oryx::testing
