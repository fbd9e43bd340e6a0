#include "oryx/layer/ops.h"

#include "oryx/common/shape.h"

namespace oryx {

namespace {

torch::ScalarType compute_dtype(const torch::Tensor& x) {
  return x.scalar_type() == torch::kFloat64 ? torch::kFloat64 : torch::kFloat32;
}

}  // namespace

torch::Tensor rms_norm(const torch::Tensor& x, const torch::Tensor& weight, double eps) {
  auto xf = x.to(compute_dtype(x));
  auto y = xf * torch::rsqrt(xf.pow(2).mean(-1, /*keepdim=*/true) + eps) * weight.to(xf.scalar_type());
  return y.to(x.scalar_type());
}

torch::Tensor gated_rms_norm(const torch::Tensor& o, const torch::Tensor& gate,
                             const torch::Tensor& weight, double eps) {
  auto dt = compute_dtype(o);
  auto y = rms_norm(o.to(dt), weight, eps) * torch::silu(gate.to(dt));
  return y.to(o.scalar_type());
}

torch::Tensor l2_normalize(const torch::Tensor& x, double eps) {
  auto xf = x.to(compute_dtype(x));
  return (xf * torch::rsqrt(xf.pow(2).sum(-1, true) + eps)).to(x.scalar_type());
}

torch::Tensor rope_apply(const torch::Tensor& x, const torch::Tensor& positions, double theta) {
  int64_t K = x.size(-1), half = K / 2;
  auto dt = compute_dtype(x);
  auto opts = x.options().dtype(dt);
  auto inv_freq = torch::pow(theta, -torch::arange(0, half, opts) * (2.0 / K));  // [K/2]
  auto angles = positions.to(x.device()).to(dt).unsqueeze(-1) * inv_freq;       // [T,K/2]
  auto cos = angles.cos().unsqueeze(1), sin = angles.sin().unsqueeze(1);         // [T,1,K/2]
  auto xf = x.to(dt);
  auto x1 = xf.narrow(-1, 0, half), x2 = xf.narrow(-1, half, half);
  return torch::cat({x1 * cos - x2 * sin, x2 * cos + x1 * sin}, -1).to(x.scalar_type());
}

ConvOutput short_conv(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& state) {
  int64_t B = x.size(0), C = x.size(2), W = weight.size(1);
  check_shape(weight, "short_conv: weight", {C, W});
  auto prev = state.defined() ? state.to(x.scalar_type())
                              : torch::zeros({B, W - 1, C}, x.options());
  check_shape(prev, "short_conv: state", {B, W - 1, C});
  auto xs = torch::cat({prev, x}, 1);                               // [B, W-1+T, C]
  auto y = torch::conv1d(xs.transpose(1, 2), weight.to(x.scalar_type()).unsqueeze(1),
                         torch::Tensor(), /*stride=*/c10::IntArrayRef{1},
                         /*padding=*/c10::IntArrayRef{0}, /*dilation=*/c10::IntArrayRef{1},
                         /*groups=*/C);
  auto new_state = xs.narrow(1, xs.size(1) - (W - 1), W - 1);
  return {y.transpose(1, 2), new_state};
}

ConvOutput short_conv_step(const torch::Tensor& x, const torch::Tensor& weight,
                           const torch::Tensor& state) {
  int64_t C = x.size(1), W = weight.size(1);
  check_shape(state, "short_conv_step: state", {x.size(0), W - 1, C});
  auto window = torch::cat({state.to(x.scalar_type()), x.unsqueeze(1)}, 1);  // [B,W,C]
  auto y = (window * weight.to(x.scalar_type()).t().unsqueeze(0)).sum(1);     // [B,C]
  return {y, window.narrow(1, 1, W - 1)};
}

torch::Tensor short_conv_cached(const torch::Tensor& x, const torch::Tensor& weight, torch::Tensor* state,
                                bool allow_step) {
  if (state && x.size(1) == 1 && allow_step) {
    auto r = short_conv_step(x.select(1, 0), weight, *state);
    *state = r.state;
    return r.y.unsqueeze(1);
  }
  auto r = short_conv(x, weight, state ? *state : torch::Tensor());
  if (state) *state = r.state;
  return r.y;
}

}  // namespace oryx
