// The layer's fast paths against the formulas they replace (layer/ops.h), on the CPU at
// awkward sizes: the fused norms (at::rms_norm) in fp64, fp32 and bf16, values and gradients;
// the short convolution's output layout (SDPA's fast kernels need a unit last-dim stride).
// The CUDA kernels are checked against the same references by tests/gpu.
#include <gtest/gtest.h>

#include "oryx/layer/ops.h"
#include "oryx/layer/projections.h"
#include "support/tolerance.h"

namespace oryx::testing {
namespace {

struct NormCase {
  torch::ScalarType dtype;
  double tol;
};

TEST(LayerOps, FusedNormsMatchTheirFormulas) {
  // fp64 and fp32 agree to rounding; bf16 outputs to one bf16 rounding (2^-8) of the values.
  for (auto [dt, tol] : {NormCase{torch::kFloat64, kTolF64}, NormCase{torch::kFloat32, kTolF32},
                         NormCase{torch::kBFloat16, 1e-2}}) {
    seed(7);
    for (auto shape : {std::vector<int64_t>{3, 5, 7}, std::vector<int64_t>{2, 130}, std::vector<int64_t>{1, 1, 64}}) {
      auto x = (torch::randn(shape, torch::kFloat64) * 3).to(dt);
      auto w = torch::rand({shape.back()}, torch::kFloat64) + 0.5;
      auto wy = torch::randn(shape, torch::kFloat64);
      for (bool l2 : {false, true}) {
        auto xf = x.clone().requires_grad_(true), xr = x.clone().requires_grad_(true);
        auto wf = w.clone().requires_grad_(true), wr = w.clone().requires_grad_(true);
        auto yf = l2 ? l2_normalize(xf) : rms_norm(xf, wf, 1e-6);
        auto yr = l2 ? l2_normalize_reference(xr) : rms_norm_reference(xr, wr, 1e-6);
        EXPECT_EQ(yf.scalar_type(), dt);
        EXPECT_LT(max_rel_error(yf.to(torch::kFloat64), yr.to(torch::kFloat64)), tol) << l2 << " " << dt;
        (yf.to(torch::kFloat64) * wy).sum().backward();
        (yr.to(torch::kFloat64) * wy).sum().backward();
        EXPECT_LT(max_rel_error(xf.grad().to(torch::kFloat64), xr.grad().to(torch::kFloat64)), 2 * tol) << l2;
        if (!l2) {
          EXPECT_LT(max_rel_error(wf.grad(), wr.grad()), 2 * tol);
        }
      }
    }
  }
}

TEST(LayerOps, GatedNormMatchesItsFormula) {
  seed(9);
  for (auto dt : {torch::kFloat64, torch::kFloat32}) {
    auto o = torch::randn({3, 5, 2, 7}, dt), gate = torch::randn({3, 5, 2, 7}, dt);
    auto w = torch::rand({7}, dt) + 0.5;
    EXPECT_LT(max_rel_error(gated_rms_norm(o, gate, w, 1e-6), gated_rms_norm_reference(o, gate, w, 1e-6)),
              dt == torch::kFloat64 ? kTolF64 : kTolF32);
  }
}

TEST(LayerOps, SwiGluMatchesItsFormula) {
  seed(10);
  for (auto dt : {torch::kFloat64, torch::kFloat32, torch::kBFloat16}) {
    auto gate = (torch::randn({3, 5, 11}) * 3).to(dt), up = torch::randn({3, 5, 11}).to(dt);
    auto y = swiglu(gate, up);
    EXPECT_EQ(y.scalar_type(), dt);
    double tol = dt == torch::kFloat64 ? kTolF64 : dt == torch::kFloat32 ? kTolF32 : 1e-2;
    EXPECT_LT(max_rel_error(y.to(torch::kFloat64), swiglu_reference(gate, up).to(torch::kFloat64)), tol) << dt;
  }
}

TEST(LayerOps, ShortConvOutputIsContiguous) {
  auto x = torch::randn({2, 9, 6});
  auto w = torch::randn({6, 4});
  auto r = short_conv(x, w, torch::Tensor());
  EXPECT_TRUE(r.y.is_contiguous());
  EXPECT_TRUE(short_conv_cached(x, w, nullptr, true).is_contiguous());
}

TEST(LayerOps, IndexSelectUniqueHasIndexSelectsValuesAndGradients) {
  seed(11);
  auto t = torch::randn({5, 4, 3}, torch::kFloat64);
  auto index = torch::tensor({3, 0, 4}, torch::kLong);
  auto wy = torch::randn({5, 3, 3}, torch::kFloat64);
  auto a = t.clone().requires_grad_(true), b = t.clone().requires_grad_(true);
  auto ya = index_select_unique(a, 1, torch::tensor({2, 0, 1}, torch::kLong));
  auto yb = b.index_select(1, torch::tensor({2, 0, 1}, torch::kLong));
  EXPECT_TRUE(torch::equal(ya, yb));
  (ya * wy).sum().backward();
  (yb * wy).sum().backward();
  EXPECT_TRUE(torch::equal(a.grad(), b.grad()));
  EXPECT_TRUE(torch::equal(index_select_unique(t, 0, index), t.index_select(0, index)));
}

TEST(LayerOps, LinearManyMatchesSeparateLinears) {
  // Values and gradients against one linear per weight, in fp64 and fp32, with an output
  // left unused (its gradient undefined) and weights of odd widths.
  seed(12);
  for (auto [dt, tol] : {NormCase{torch::kFloat64, kTolF64}, NormCase{torch::kFloat32, kTolF32}}) {
    auto x = torch::randn({3, 5, 13}, dt);
    std::vector<torch::Tensor> w = {torch::randn({7, 13}, dt), torch::randn({1, 13}, dt), torch::randn({20, 13}, dt)};
    auto leaves = [&](const std::vector<torch::Tensor>& ts) {
      std::vector<torch::Tensor> out;
      for (const auto& t : ts) out.push_back(t.clone().requires_grad_(true));
      return out;
    };
    auto wf = leaves(w), wr = leaves(w);
    auto xf = x.clone().requires_grad_(true), xr = x.clone().requires_grad_(true);
    auto yf = linear_many(xf, wf), yr = linear_many_reference(xr, wr);
    ASSERT_EQ(yf.size(), 3u);
    torch::Tensor lf = torch::zeros({}, dt), lr = torch::zeros({}, dt);
    for (size_t i = 0; i < 3; ++i) {
      EXPECT_LT(max_rel_error(yf[i], yr[i]), tol) << i;
      if (i == 1) continue;  // unused: no gradient flows back from it
      auto wy = torch::randn(yf[i].sizes(), dt);
      lf = lf + (yf[i] * wy).sum();
      lr = lr + (yr[i] * wy).sum();
    }
    lf.backward();
    lr.backward();
    EXPECT_LT(max_rel_error(xf.grad(), xr.grad()), tol);
    EXPECT_LT(max_rel_error(wf[0].grad(), wr[0].grad()), tol);
    EXPECT_LT(max_rel_error(wf[2].grad(), wr[2].grad()), tol);
    EXPECT_FALSE(wf[1].grad().defined() && wf[1].grad().abs().max().item<double>() > 0);
  }
  EXPECT_THROW(linear_many(torch::randn({2, 4}), {torch::randn({3, 5}), torch::randn({3, 4})}), std::exception);
}

TEST(LayerOps, MatmulOperandLeavesCpuTensorsAlone) {
  auto x = torch::randn({2, 3});
  EXPECT_TRUE(matmul_operand(x).is_same(x));
}

}  // namespace
}  // namespace oryx::testing
