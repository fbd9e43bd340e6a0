// Torch-facing glue of the short-convolution kernels: checks, the params fill and the
// autograd function pairing the forward and backward kernels.
#include "oryx/kernels/conv_ops.h"

#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/autograd.h>

#include <limits>

#include "oryx/common/error.h"
#include "oryx/kernels/short_conv.h"
#include "oryx/kernels/ops_common.h"

namespace oryx {

namespace {

using torch::Tensor;
namespace K = kernels;

K::ShortConvParams params_of(const Tensor& x, const Tensor& w) {
  K::ShortConvParams p;
  p.B = static_cast<int>(x.size(0));
  p.T = static_cast<int>(x.size(1));
  p.C = static_cast<int>(x.size(2));
  p.W = static_cast<int>(w.size(1));
  p.x = K::bf16_ptr(x);
  p.w = K::bf16_ptr(w);
  return p;
}

class ShortConvFunction : public torch::autograd::Function<ShortConvFunction> {
 public:
  static Tensor forward(torch::autograd::AutogradContext* ctx, const Tensor& x_in, const Tensor& weight, bool silu) {
    c10::cuda::CUDAGuard guard(x_in.device());
    auto x = x_in.contiguous();
    auto w = weight.detach().to(x.scalar_type()).contiguous();
    auto y = torch::empty_like(x);
    auto p = params_of(x, w);
    p.silu = silu;
    p.y = K::bf16_mut_ptr(y);
    K::short_conv_forward(p, at::cuda::getCurrentCUDAStream());
    K::check_launch("short_conv forward");
    ctx->save_for_backward({x, w});
    ctx->saved_data["weight_dtype"] = static_cast<int64_t>(weight.scalar_type());
    ctx->saved_data["silu"] = silu;
    return y;
  }

  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    auto saved = ctx->get_saved_variables();
    const auto& x = saved[0];
    const auto& w = saved[1];
    c10::cuda::CUDAGuard guard(x.device());
    auto dy = grads[0].to(x.scalar_type()).contiguous();
    auto dx = torch::empty_like(x);
    auto p = params_of(x, w);
    auto dw_partial = torch::empty({K::short_conv_backward_tiles(p.B, p.T), p.C, p.W},
                                   w.options().dtype(torch::kFloat32));
    p.dw_partial = dw_partial.data_ptr<float>();
    p.silu = ctx->saved_data["silu"].toBool();
    p.dy = K::bf16_ptr(dy);
    p.dx = K::bf16_mut_ptr(dx);
    K::short_conv_backward(p, at::cuda::getCurrentCUDAStream());
    K::check_launch("short_conv backward");
    auto dw = dw_partial.sum(0);  // over tiles, in a fixed order (no atomics)
    auto weight_dtype = static_cast<c10::ScalarType>(ctx->saved_data["weight_dtype"].toInt());
    return {dx, dw.to(weight_dtype), Tensor()};
  }
};

}  // namespace

bool kernels_short_conv_supported(const Tensor& x, const Tensor& weight) {
  if (!x.is_cuda() || x.scalar_type() != torch::kBFloat16 || x.dim() != 3 || weight.dim() != 2) return false;
  if (weight.size(0) != x.size(2) || !K::short_conv_width_supported(static_cast<int>(weight.size(1)))) return false;
  if (x.numel() >= std::numeric_limits<int>::max() || x.size(1) == 0) return false;
  return K::is_hopper(x);
}

Tensor kernels_short_conv(const Tensor& x, const Tensor& weight, bool silu) {
  return ShortConvFunction::apply(x, weight, silu);
}

bool kernels_short_conv_step_supported(const Tensor& x, const Tensor& weight, const Tensor& state) {
  if (!kernels_short_conv_supported(x, weight) || x.size(1) != 1) return false;
  return state.scalar_type() == torch::kBFloat16 && state.is_contiguous() && state.dim() == 3 &&
         state.size(0) == x.size(0) && state.size(1) == weight.size(1) - 1 && state.size(2) == x.size(2);
}

Tensor kernels_short_conv_step(const Tensor& x_in, const Tensor& weight, Tensor& state, bool silu) {
  c10::cuda::CUDAGuard guard(x_in.device());
  auto x = x_in.contiguous();
  auto w = weight.detach().to(x.scalar_type()).contiguous();
  auto y = torch::empty_like(x);
  K::ShortConvStepParams p;
  p.B = static_cast<int>(x.size(0));
  p.C = static_cast<int>(x.size(2));
  p.W = static_cast<int>(w.size(1));
  p.silu = silu;
  p.x = K::bf16_ptr(x);
  p.w = K::bf16_ptr(w);
  p.state = K::bf16_mut_ptr(state);
  p.y = K::bf16_mut_ptr(y);
  K::short_conv_step(p, at::cuda::getCurrentCUDAStream());
  K::check_launch("short_conv step");
  return y;
}

}  // namespace oryx
