// Torch-facing glue of the fused QK-norm + RoPE kernels: checks, the params fill and the
// autograd function pairing the forward and backward kernels.
#include "oryx/kernels/norm_rope_ops.h"

#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/autograd.h>

#include <limits>

#include "oryx/common/error.h"
#include "oryx/kernels/norm_rope.h"
#include "oryx/kernels/ops_common.h"

namespace oryx {

namespace {

using torch::Tensor;
namespace K = kernels;

K::NormRopeParams params_of(const Tensor& x, const Tensor& w, const Tensor& positions, double theta, double eps) {
  K::NormRopeParams p;
  p.rows = x.size(0) * x.size(1) * x.size(2);
  p.T = static_cast<int>(x.size(1));
  p.H = static_cast<int>(x.size(2));
  p.K = static_cast<int>(x.size(3));
  p.theta = static_cast<float>(theta);
  p.eps = static_cast<float>(eps);
  p.x = K::bf16_ptr(x);
  p.w = w.defined() ? w.data_ptr<float>() : nullptr;
  p.positions = positions.numel() > 0 ? positions.data_ptr<int64_t>() : nullptr;
  return p;
}

class NormRopeFunction : public torch::autograd::Function<NormRopeFunction> {
 public:
  static Tensor forward(torch::autograd::AutogradContext* ctx, const Tensor& x_in, const Tensor& weight,
                        const Tensor& positions_in, double theta, double eps) {
    c10::cuda::CUDAGuard guard(x_in.device());
    auto x = K::rows_aligned(x_in.contiguous());
    // An empty weight stands for "no norm", empty positions for "no RoPE": autograd functions
    // take no undefined inputs.
    auto w = weight.numel() > 0 ? weight.detach().to(torch::kFloat32).contiguous() : Tensor();
    auto positions = positions_in.to(torch::kLong).contiguous();
    auto y = torch::empty_like(x);
    auto p = params_of(x, w, positions, theta, eps);
    p.y = K::bf16_mut_ptr(y);
    K::norm_rope_forward(p, at::cuda::getCurrentCUDAStream());
    K::check_launch("norm_rope forward");
    ctx->save_for_backward({x, w, positions});
    ctx->saved_data["theta"] = theta;
    ctx->saved_data["eps"] = eps;
    ctx->saved_data["weight_dtype"] = static_cast<int64_t>(weight.scalar_type());
    return y;
  }

  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    auto s = ctx->get_saved_variables();
    const auto &x = s[0], &w = s[1], &positions = s[2];
    c10::cuda::CUDAGuard guard(x.device());
    auto dy = K::rows_aligned(grads[0].to(x.scalar_type()).contiguous());
    auto dx = torch::empty_like(x);
    Tensor dw = w.defined() ? torch::zeros_like(w) : Tensor();
    auto p = params_of(x, w, positions, ctx->saved_data["theta"].toDouble(), ctx->saved_data["eps"].toDouble());
    p.dy = K::bf16_ptr(dy);
    p.dx = K::bf16_mut_ptr(dx);
    p.dw = dw.defined() ? dw.data_ptr<float>() : nullptr;
    K::norm_rope_backward(p, at::cuda::getCurrentCUDAStream());
    K::check_launch("norm_rope backward");
    if (dw.defined()) dw = dw.to(static_cast<c10::ScalarType>(ctx->saved_data["weight_dtype"].toInt()));
    return {dx, dw, Tensor(), Tensor(), Tensor()};
  }
};

}  // namespace

bool kernels_norm_rope_supported(const Tensor& x, const Tensor& weight, const Tensor& positions) {
  if (!x.is_cuda() || x.scalar_type() != torch::kBFloat16 || x.dim() != 4) return false;
  if (!K::norm_rope_dim_supported(static_cast<int>(x.size(3))) || x.size(1) >= std::numeric_limits<int>::max()) return false;
  if (weight.defined() && (weight.dim() != 1 || weight.size(0) != x.size(3) || !weight.is_floating_point())) return false;
  if (positions.defined() && (positions.dim() != 1 || positions.size(0) != x.size(1) || positions.device() != x.device()))
    return false;
  return K::is_hopper(x);
}

Tensor kernels_norm_rope(const Tensor& x, const Tensor& weight, const Tensor& positions, double theta, double eps) {
  auto w = weight.defined() ? weight : torch::empty({0}, x.options().dtype(torch::kFloat32));
  auto pos = positions.defined() ? positions : torch::empty({0}, x.options().dtype(torch::kLong));
  return NormRopeFunction::apply(x, w, pos, theta, eps);
}

}  // namespace oryx
