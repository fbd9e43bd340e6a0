#include "oryx/layer/projections.h"

#include <torch/autograd.h>

#include "oryx/common/error.h"
#include "oryx/common/shape.h"
#include "oryx/layer/ops.h"
#include "oryx/mixers/dispatch.h"

namespace oryx {

namespace {

using torch::Tensor;
using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

class LinearMany : public torch::autograd::Function<LinearMany> {
 public:
  static variable_list forward(AutogradContext* ctx, const Tensor& x, at::TensorList weights) {
    auto dt = matmul_dtype(x);  // bf16 activations stay bf16; weights are cast to it
    const int64_t D = x.size(-1);
    auto x2 = x.to(dt).reshape({-1, D});
    variable_list out, saved{x2};
    std::vector<int64_t> weight_dtypes;
    for (const auto& w : weights) {
      auto wc = w.to(dt);
      auto lead = x.sizes().vec();
      lead.back() = w.size(0);
      out.push_back(at::mm(x2, wc.t()).view(lead));
      saved.push_back(wc);
      weight_dtypes.push_back(static_cast<int64_t>(w.scalar_type()));
    }
    ctx->save_for_backward(saved);
    ctx->saved_data["x_sizes"] = x.sizes().vec();
    ctx->saved_data["x_dtype"] = static_cast<int64_t>(x.scalar_type());
    ctx->saved_data["weight_dtypes"] = weight_dtypes;
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto saved = ctx->get_saved_variables();
    const auto& x2 = saved[0];
    const auto weight_dtypes = ctx->saved_data["weight_dtypes"].toIntVector();
    const size_t n = weight_dtypes.size();
    Tensor dx;
    variable_list out(n + 1);
    for (size_t i = 0; i < n; ++i) {
      if (!grads[i].defined()) continue;
      const auto& wc = saved[i + 1];
      auto dy = grads[i].to(wc.scalar_type()).reshape({-1, wc.size(0)});
      if (ctx->needs_input_grad(0)) {
        if (dx.defined())
          dx.addmm_(dy, wc);  // dX += dY_i W_i in the product's epilogue
        else
          dx = at::mm(dy, wc);
      }
      if (ctx->needs_input_grad(i + 1))
        out[i + 1] = at::mm(dy.t(), x2).to(static_cast<c10::ScalarType>(weight_dtypes[i]));
    }
    if (dx.defined())
      out[0] = dx.view(ctx->saved_data["x_sizes"].toIntVector())
                   .to(static_cast<c10::ScalarType>(ctx->saved_data["x_dtype"].toInt()));
    return out;
  }
};

}  // namespace

std::vector<Tensor> linear_many_reference(const Tensor& x, const std::vector<Tensor>& weights) {
  std::vector<Tensor> out;
  for (const auto& w : weights) out.push_back(torch::nn::functional::linear(x, w));
  return out;
}

std::vector<Tensor> linear_many(const Tensor& x, const std::vector<Tensor>& weights) {
  for (const auto& w : weights)
    ORYX_CHECK(w.dim() == 2 && w.size(1) == x.size(-1), "linear_many: weight ", shape_str(w.sizes()),
               " does not map inputs ", shape_str(x.sizes()));
  if (reference_forced() || weights.size() < 2) return linear_many_reference(x, weights);
  return LinearMany::apply(x, at::TensorList(weights));
}

}  // namespace oryx
