#include "oryx/layer/ops.h"

#include <ATen/autocast_mode.h>
#include <torch/autograd.h>

#include <cmath>

#include "oryx/cache/cache.h"
#include "oryx/common/shape.h"
#include "oryx/mixers/dispatch.h"
#ifdef ORYX_WITH_CUDA_KERNELS
#include "oryx/kernels/add_norm_ops.h"
#include "oryx/kernels/conv_ops.h"
#include "oryx/kernels/gated_norm_ops.h"
#include "oryx/kernels/norm_rope_ops.h"
#include "oryx/kernels/swiglu_ops.h"
#endif

namespace oryx {

namespace {

torch::ScalarType compute_dtype(const torch::Tensor& x) {
  return x.scalar_type() == torch::kFloat64 ? torch::kFloat64 : torch::kFloat32;
}

}  // namespace

torch::Tensor swiglu_reference(const torch::Tensor& gate, const torch::Tensor& up) {
  auto dt = compute_dtype(gate);
  return (torch::silu(gate.to(dt)) * up.to(dt)).to(gate.scalar_type());
}

torch::Tensor swiglu(const torch::Tensor& gate, const torch::Tensor& up) {
#ifdef ORYX_WITH_CUDA_KERNELS
  if (!reference_forced() && kernels_swiglu_supported(gate, up)) return kernels_swiglu(gate, up);
#endif
  return torch::silu(gate) * up;
}

torch::Tensor rms_norm_reference(const torch::Tensor& x, const torch::Tensor& weight, double eps) {
  auto xf = x.to(compute_dtype(x));
  auto y = xf * torch::rsqrt(xf.pow(2).mean(-1, /*keepdim=*/true) + eps) * weight.to(xf.scalar_type());
  return y.to(x.scalar_type());
}

torch::Tensor l2_normalize_reference(const torch::Tensor& x, double eps) {
  auto xf = x.to(compute_dtype(x));
  return (xf * torch::rsqrt(xf.pow(2).sum(-1, true) + eps)).to(x.scalar_type());
}

torch::Tensor rms_norm(const torch::Tensor& x, const torch::Tensor& weight, double eps) {
  // at::rms_norm runs one fused kernel forward and one backward on CUDA when input and weight
  // share a dtype (fp32 here, as the reference computes); on the CPU it is the same formula.
  if (reference_forced()) return rms_norm_reference(x, weight, eps);
  auto dt = compute_dtype(x);
  return at::rms_norm(x.to(dt), {x.size(-1)}, weight.to(dt), eps).to(x.scalar_type());
}

NormedSum add_rms_norm_reference(const torch::Tensor& h, const torch::Tensor& delta, const torch::Tensor& weight,
                                 double eps) {
  auto sum = delta.defined() ? h + delta : h;
  return {sum, rms_norm_reference(sum, weight, eps)};
}

NormedSum add_rms_norm(const torch::Tensor& h, const torch::Tensor& delta, const torch::Tensor& weight,
                       double eps) {
#ifdef ORYX_WITH_CUDA_KERNELS
  // The kernel writes x in bf16: only where matmul_operand would have cast it to bf16.
  if (!reference_forced() && at::autocast::is_autocast_enabled(at::kCUDA) &&
      at::autocast::get_autocast_dtype(at::kCUDA) == torch::kBFloat16 && kernels_add_norm_supported(h, delta, weight)) {
    auto [sum, x] = kernels_add_norm(h, delta, weight, eps);
    return {sum, x};
  }
#endif
  auto sum = delta.defined() ? h + delta : h;
  return {sum, matmul_operand(rms_norm(sum, weight, eps))};
}

torch::Tensor gated_rms_norm_reference(const torch::Tensor& o, const torch::Tensor& gate,
                                       const torch::Tensor& weight, double eps) {
  auto dt = compute_dtype(o);
  auto y = rms_norm_reference(o.to(dt), weight, eps) * torch::silu(gate.to(dt));
  return y.to(o.scalar_type());
}

torch::Tensor gated_rms_norm(const torch::Tensor& o, const torch::Tensor& gate,
                             const torch::Tensor& weight, double eps) {
#ifdef ORYX_WITH_CUDA_KERNELS
  if (!reference_forced() && kernels_gated_norm_supported(o, gate, weight)) return kernels_gated_norm(o, gate, weight, eps);
#endif
  auto dt = compute_dtype(o);
  auto y = rms_norm(o.to(dt), weight, eps) * torch::silu(gate.to(dt));
  return y.to(o.scalar_type());
}

torch::Tensor l2_normalize(const torch::Tensor& x, double eps) {
  // x / sqrt(sum x^2 + eps) = x / sqrt(mean x^2 + eps / K) / sqrt(K): an RMSNorm with the
  // constant gain 1 / sqrt(K), so it takes the same fused kernel.
  if (reference_forced()) return l2_normalize_reference(x, eps);
  int64_t K = x.size(-1);
  auto dt = compute_dtype(x);
  auto gain = torch::full({K}, 1.0 / std::sqrt(static_cast<double>(K)), x.options().dtype(dt));
#ifdef ORYX_WITH_CUDA_KERNELS
  // bf16 heads [B,T,H,K]: the QK-norm kernel without its rotation, bf16 in and out.
  if (x.dim() == 4 && kernels_norm_rope_supported(x, gain, torch::Tensor()))
    return kernels_norm_rope(x, gain, torch::Tensor(), 0.0, eps / static_cast<double>(K));
#endif
  return at::rms_norm(x.to(dt), {K}, gain, eps / static_cast<double>(K)).to(x.scalar_type());
}

namespace {

struct IndexSelectUnique : public torch::autograd::Function<IndexSelectUnique> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& t, int64_t dim,
                               const torch::Tensor& index) {
    ctx->save_for_backward({index});
    ctx->saved_data["dim"] = dim;
    ctx->saved_data["sizes"] = t.sizes().vec();
    return t.index_select(dim, index);
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    auto index = ctx->get_saved_variables()[0];
    auto sizes = ctx->saved_data["sizes"].toIntVector();
    auto dim = ctx->saved_data["dim"].toInt();
    auto grad = torch::zeros(sizes, grads[0].options()).index_copy_(dim, index, grads[0]);
    return {grad, torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor index_select_unique(const torch::Tensor& t, int64_t dim, const torch::Tensor& index) {
  if (!t.requires_grad()) return t.index_select(dim, index);
  return IndexSelectUnique::apply(t, dim, index);
}

torch::ScalarType matmul_dtype(const torch::Tensor& x) {
  if (x.is_cuda() && at::autocast::is_autocast_enabled(at::kCUDA) && x.scalar_type() == torch::kFloat32)
    return at::autocast::get_autocast_dtype(at::kCUDA);
  return x.scalar_type();
}

torch::Tensor matmul_operand(const torch::Tensor& x) { return x.to(matmul_dtype(x)); }

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
  // Contiguous [B,T,C]: a transposed view would give the heads' last dim a stride of T, and
  // SDPA then refuses its flash and memory-efficient kernels (fp32 math fallback).
  return {y.transpose(1, 2).contiguous(), new_state};
}

ConvOutput short_conv_step(const torch::Tensor& x, const torch::Tensor& weight,
                           const torch::Tensor& state) {
  int64_t C = x.size(1), W = weight.size(1);
  check_shape(state, "short_conv_step: state", {x.size(0), W - 1, C});
  auto window = torch::cat({state.to(x.scalar_type()), x.unsqueeze(1)}, 1);  // [B,W,C]
  auto y = (window * weight.to(x.scalar_type()).t().unsqueeze(0)).sum(1);     // [B,C]
  return {y, window.narrow(1, 1, W - 1)};
}

namespace {

// The reference: the step form for one decoding token with a cache, else the sequence form;
// the new window goes to the cache by cache_store (in place in Model::decode_step).
torch::Tensor short_conv_window(const torch::Tensor& x, const torch::Tensor& weight, torch::Tensor* state,
                                bool allow_step) {
  if (state && x.size(1) == 1 && allow_step) {
    auto r = short_conv_step(x.select(1, 0), weight, *state);
    cache_store(*state, r.state);
    return r.y.unsqueeze(1);
  }
  auto r = short_conv(x, weight, state ? *state : torch::Tensor());
  // The window is a view of the padded input; a compact copy lets the decoding kernels,
  // which need contiguous windows, take the cache at any batch size.
  if (state) cache_store(*state, r.state.contiguous());
  return r.y;
}

}  // namespace

torch::Tensor short_conv_cached(const torch::Tensor& x, const torch::Tensor& weight, torch::Tensor* state,
                                bool allow_step, bool silu) {
#ifdef ORYX_WITH_CUDA_KERNELS
  // Without a cache there is no carried window to read or write: the fused kernel's case.
  if (!state && !reference_forced() && kernels_short_conv_supported(x, weight))
    return kernels_short_conv(x, weight, silu);
  // A decoding step: one kernel reads the window and shifts it, in place in Model::decode_step,
  // else in a copy stored back (callers may hold the old window). The kernel has no backward:
  // with gradients on, the reference below.
  if (state && allow_step && !reference_forced() && kernels_short_conv_step_supported(x, weight, *state)) {
    if (cache_writes_in_place()) return kernels_short_conv_step(x, weight, *state, silu);
    if (!torch::GradMode::is_enabled()) {
      auto window = state->clone();
      auto y = kernels_short_conv_step(x, weight, window, silu);
      cache_store(*state, window);
      return y;
    }
  }
#endif
  auto y = short_conv_window(x, weight, state, allow_step);
  return silu ? torch::silu(y) : y;
}

}  // namespace oryx
