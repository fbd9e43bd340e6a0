// Torch-facing glue of the GatedRMSNorm kernels: checks, the params fill and the autograd
// function pairing the forward and backward kernels.
#include "oryx/kernels/gated_norm_ops.h"

#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/autograd.h>

#include "oryx/common/error.h"
#include "oryx/kernels/gated_norm.h"
#include "oryx/kernels/ops_common.h"

namespace oryx {

namespace {

using torch::Tensor;
namespace K = kernels;

K::GatedNormParams params_of(const Tensor& o, const Tensor& gate, const Tensor& w, double eps) {
  K::GatedNormParams p;
  p.V = static_cast<int>(o.size(-1));
  p.rows = o.numel() / p.V;
  p.eps = static_cast<float>(eps);
  p.o = K::bf16_ptr(o);
  p.gate = K::bf16_ptr(gate);
  p.w = w.data_ptr<float>();
  return p;
}

class GatedNormFunction : public torch::autograd::Function<GatedNormFunction> {
 public:
  static Tensor forward(torch::autograd::AutogradContext* ctx, const Tensor& o_in, const Tensor& gate_in,
                        const Tensor& weight, double eps) {
    c10::cuda::CUDAGuard guard(o_in.device());
    auto o = K::rows_aligned(o_in.contiguous()), gate = K::rows_aligned(gate_in.contiguous());
    auto w = weight.detach().to(torch::kFloat32).contiguous();
    auto y = torch::empty_like(o);
    auto p = params_of(o, gate, w, eps);
    p.y = K::bf16_mut_ptr(y);
    K::gated_norm_forward(p, at::cuda::getCurrentCUDAStream());
    K::check_launch("gated_norm forward");
    ctx->save_for_backward({o, gate, w});
    ctx->saved_data["eps"] = eps;
    ctx->saved_data["weight_dtype"] = static_cast<int64_t>(weight.scalar_type());
    return y;
  }

  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    auto s = ctx->get_saved_variables();
    const auto &o = s[0], &gate = s[1], &w = s[2];
    c10::cuda::CUDAGuard guard(o.device());
    auto dy = K::rows_aligned(grads[0].to(o.scalar_type()).contiguous());
    auto dout = torch::empty_like(o), dgate = torch::empty_like(gate);
    auto dw = torch::zeros_like(w);
    auto p = params_of(o, gate, w, ctx->saved_data["eps"].toDouble());
    p.dy = K::bf16_ptr(dy);
    p.dout = K::bf16_mut_ptr(dout);
    p.dgate = K::bf16_mut_ptr(dgate);
    p.dw = dw.data_ptr<float>();
    K::gated_norm_backward(p, at::cuda::getCurrentCUDAStream());
    K::check_launch("gated_norm backward");
    auto weight_dtype = static_cast<c10::ScalarType>(ctx->saved_data["weight_dtype"].toInt());
    return {dout, dgate, dw.to(weight_dtype), Tensor()};
  }
};

}  // namespace

bool kernels_gated_norm_supported(const Tensor& o, const Tensor& gate, const Tensor& weight) {
  if (!o.is_cuda() || o.scalar_type() != torch::kBFloat16 || gate.scalar_type() != torch::kBFloat16) return false;
  if (o.sizes() != gate.sizes() || o.dim() < 1 || !K::gated_norm_dim_supported(static_cast<int>(o.size(-1))))
    return false;
  if (weight.dim() != 1 || weight.size(0) != o.size(-1) || !weight.is_floating_point()) return false;
  return K::is_hopper(o);
}

Tensor kernels_gated_norm(const Tensor& o, const Tensor& gate, const Tensor& weight, double eps) {
  return GatedNormFunction::apply(o, gate, weight, eps);
}

}  // namespace oryx
