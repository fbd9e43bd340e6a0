// Torch-facing glue of the residual add + RMSNorm kernels: checks, the params fill and the
// autograd function pairing the forward and backward kernels.
#include "oryx/kernels/add_norm_ops.h"

#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/autograd.h>

#include "oryx/common/error.h"
#include "oryx/kernels/add_norm.h"
#include "oryx/kernels/ops_common.h"

namespace oryx {

namespace {

using torch::Tensor;
using torch::autograd::variable_list;
namespace K = kernels;

bool aligned(const Tensor& t, uintptr_t bytes) { return reinterpret_cast<uintptr_t>(t.data_ptr()) % bytes == 0; }

// t contiguous and its rows at a multiple of `bytes` (the kernels read pairs of values).
Tensor pairs_readable(const Tensor& t, uintptr_t bytes) {
  Tensor c = t.contiguous();
  return aligned(c, bytes) ? c : c.clone();
}

K::AddNormParams params_of(const Tensor& h, const Tensor& w, double eps) {
  K::AddNormParams p;
  p.D = static_cast<int>(h.size(-1));
  p.rows = h.numel() / p.D;
  p.eps = static_cast<float>(eps);
  p.h = h.data_ptr<float>();
  p.w = w.data_ptr<float>();
  return p;
}

// Outputs {x} without a delta (the sum is h itself, which a Function must not return) and
// {sum, x} with one. "No delta" travels as an empty tensor: Functions take no undefined ones.
class AddNormFunction : public torch::autograd::Function<AddNormFunction> {
 public:
  static variable_list forward(torch::autograd::AutogradContext* ctx, const Tensor& h_in, const Tensor& delta_in,
                               const Tensor& weight, double eps) {
    c10::cuda::CUDAGuard guard(h_in.device());
    const bool has_delta = delta_in.numel() > 0;
    auto h = h_in.contiguous();
    auto w = weight.detach().to(torch::kFloat32).contiguous();
    auto x = torch::empty(h.sizes(), h.options().dtype(torch::kBFloat16));
    auto rstd = torch::empty({h.numel() / h.size(-1)}, h.options());
    auto p = params_of(h, w, eps);
    Tensor delta, sum;
    if (has_delta) {
      delta = delta_in.contiguous();
      sum = torch::empty_like(h);
      p.delta = K::bf16_ptr(delta);
      p.sum = sum.data_ptr<float>();
    }
    p.x = K::bf16_mut_ptr(x);
    p.rstd = rstd.data_ptr<float>();
    K::add_norm_forward(p, at::cuda::getCurrentCUDAStream());
    K::check_launch("add_norm forward");
    ctx->save_for_backward({has_delta ? sum : h, rstd, w});
    ctx->saved_data["eps"] = eps;
    ctx->saved_data["has_delta"] = has_delta;
    ctx->saved_data["weight_dtype"] = static_cast<int64_t>(weight.scalar_type());
    if (!has_delta) return {x};
    return {sum, x};
  }

  static variable_list backward(torch::autograd::AutogradContext* ctx, variable_list grads) {
    auto s = ctx->get_saved_variables();
    const auto &sum = s[0], &rstd = s[1], &w = s[2];
    c10::cuda::CUDAGuard guard(sum.device());
    const bool has_delta = ctx->saved_data["has_delta"].toBool();
    Tensor dsum = has_delta ? grads[0] : Tensor(), dx = has_delta ? grads[1] : grads[0];
    dx = dx.defined() ? pairs_readable(dx.to(torch::kBFloat16), 4)
                      : torch::zeros(sum.sizes(), sum.options().dtype(torch::kBFloat16));
    if (dsum.defined()) dsum = pairs_readable(dsum.to(torch::kFloat32), 8);
    auto dh = torch::empty_like(sum);
    auto dw = torch::zeros_like(w);
    Tensor ddelta;
    auto p = params_of(sum, w, ctx->saved_data["eps"].toDouble());
    if (has_delta) {
      ddelta = torch::empty(sum.sizes(), sum.options().dtype(torch::kBFloat16));
      p.sum = sum.data_ptr<float>();  // the kernel reads the saved sum (p.h otherwise)
      p.ddelta = K::bf16_mut_ptr(ddelta);
    }
    p.rstd = rstd.data_ptr<float>();
    p.dx = K::bf16_ptr(dx);
    p.dsum = dsum.defined() ? dsum.data_ptr<float>() : nullptr;
    p.dh = dh.data_ptr<float>();
    p.dw = dw.data_ptr<float>();
    K::add_norm_backward(p, at::cuda::getCurrentCUDAStream());
    K::check_launch("add_norm backward");
    auto weight_dtype = static_cast<c10::ScalarType>(ctx->saved_data["weight_dtype"].toInt());
    return {dh, has_delta ? ddelta : Tensor(), dw.to(weight_dtype), Tensor()};
  }
};

}  // namespace

bool kernels_add_norm_supported(const Tensor& h, const Tensor& delta, const Tensor& weight) {
  if (!h.is_cuda() || h.scalar_type() != torch::kFloat32 || h.dim() < 1 || h.numel() == 0) return false;
  if (!K::add_norm_dim_supported(static_cast<int>(h.size(-1)))) return false;
  if (delta.defined() && (delta.scalar_type() != torch::kBFloat16 || delta.sizes() != h.sizes() ||
                          delta.device() != h.device()))
    return false;
  if (weight.dim() != 1 || weight.size(0) != h.size(-1) || weight.scalar_type() != torch::kFloat32 ||
      weight.device() != h.device())
    return false;
  // The kernels read fp32 pairs (8 bytes) and bf16 pairs (4 bytes): a view at an odd offset
  // takes the unfused path.
  if (!aligned(h, 8) || !aligned(weight, 8) || (delta.defined() && !aligned(delta, 4))) return false;
  return K::is_hopper(h);
}

std::pair<Tensor, Tensor> kernels_add_norm(const Tensor& h, const Tensor& delta, const Tensor& weight, double eps) {
  Tensor d = delta.defined() ? delta : torch::empty({0}, h.options().dtype(torch::kBFloat16));
  auto out = AddNormFunction::apply(h, d, weight, eps);
  if (!delta.defined()) return {h, out[0]};
  return {out[0], out[1]};
}

}  // namespace oryx
