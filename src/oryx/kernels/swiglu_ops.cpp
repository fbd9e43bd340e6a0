// Torch-facing glue of the SwiGLU kernels: the autograd function pairing the forward and
// backward kernels; only gate and up are saved (silu(gate) is recomputed in the backward).
#include "oryx/kernels/swiglu_ops.h"

#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/autograd.h>

#include "oryx/kernels/ops_common.h"
#include "oryx/kernels/swiglu.h"

namespace oryx {

namespace {

using torch::Tensor;
namespace K = kernels;

class SwiGluFunction : public torch::autograd::Function<SwiGluFunction> {
 public:
  static Tensor forward(torch::autograd::AutogradContext* ctx, const Tensor& gate_in, const Tensor& up_in) {
    c10::cuda::CUDAGuard guard(gate_in.device());
    auto gate = gate_in.contiguous(), up = up_in.contiguous();
    auto y = torch::empty_like(gate);
    K::SwiGluParams p;
    p.n = gate.numel();
    p.gate = K::bf16_ptr(gate);
    p.up = K::bf16_ptr(up);
    p.y = K::bf16_mut_ptr(y);
    K::swiglu_forward(p, at::cuda::getCurrentCUDAStream());
    K::check_launch("swiglu forward");
    ctx->save_for_backward({gate, up});
    return y;
  }

  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    auto s = ctx->get_saved_variables();
    const auto &gate = s[0], &up = s[1];
    c10::cuda::CUDAGuard guard(gate.device());
    auto dy = grads[0].to(torch::kBFloat16).contiguous();
    auto dgate = torch::empty_like(gate), dup = torch::empty_like(up);
    K::SwiGluParams p;
    p.n = gate.numel();
    p.gate = K::bf16_ptr(gate);
    p.up = K::bf16_ptr(up);
    p.dy = K::bf16_ptr(dy);
    p.dgate = K::bf16_mut_ptr(dgate);
    p.dup = K::bf16_mut_ptr(dup);
    K::swiglu_backward(p, at::cuda::getCurrentCUDAStream());
    K::check_launch("swiglu backward");
    return {dgate, dup};
  }
};

}  // namespace

bool kernels_swiglu_supported(const Tensor& gate, const Tensor& up) {
  if (!gate.is_cuda() || gate.scalar_type() != torch::kBFloat16 || up.scalar_type() != torch::kBFloat16) return false;
  if (gate.sizes() != up.sizes() || gate.device() != up.device()) return false;
  return K::is_hopper(gate);
}

Tensor kernels_swiglu(const Tensor& gate, const Tensor& up) { return SwiGluFunction::apply(gate, up); }

}  // namespace oryx
