#include "support/inputs.h"

#include "support/tolerance.h"

namespace oryx::testing {

const char* to_string(LinearOp op) { return op == LinearOp::GatedDeltaNet ? "gdn" : "mamba2"; }

RecurrenceInputs make_recurrence_inputs(LinearOp op, int64_t B, int64_t T, int64_t H, int64_t K,
                                        int64_t V, torch::ScalarType dtype, bool with_state) {
  auto f64 = torch::TensorOptions().dtype(torch::kFloat64);
  RecurrenceInputs in;
  in.q = torch::randn({B, T, H, K}, f64);
  in.k = torch::randn({B, T, H, K}, f64);
  in.v = torch::randn({B, T, H, V}, f64);
  if (op == LinearOp::GatedDeltaNet) {
    in.q = in.q / in.q.norm(2, -1, true);
    in.k = in.k / in.k.norm(2, -1, true);
    in.beta = torch::sigmoid(torch::randn({B, T, H}, f64));
    in.g = torch::log_sigmoid(torch::randn({B, T, H}, f64) + 2.0);  // decays mostly near 1
    in.scale = 1.0 / std::sqrt(static_cast<double>(K));
  } else {
    in.beta = torch::softplus(torch::randn({B, T, H}, f64) - 2.0);  // dt
    auto A = torch::rand({H}, f64) * 8 + 1;
    in.g = -A * in.beta;
    in.scale = 1.0;
  }
  auto state_dt = dtype == torch::kFloat64 ? torch::kFloat64 : torch::kFloat32;
  for (auto* t : {&in.q, &in.k, &in.v, &in.g, &in.beta}) *t = t->to(dtype);
  if (with_state) in.initial_state = torch::randn({B, H, K, V}, f64).mul(0.5).to(state_dt);
  return in;
}

double finite_difference_error(const std::function<torch::Tensor()>& f, torch::Tensor x,
                               const torch::Tensor& grad, double eps) {
  torch::NoGradGuard no_grad;
  auto flat = x.view({-1});
  auto numeric = torch::zeros_like(flat);
  for (int64_t i = 0; i < flat.numel(); ++i) {
    double orig = flat[i].item<double>();
    flat[i] = orig + eps;
    double plus = f().item<double>();
    flat[i] = orig - eps;
    double minus = f().item<double>();
    flat[i] = orig;
    numeric[i] = (plus - minus) / (2 * eps);
  }
  return max_rel_error(grad.reshape({-1}), numeric);
}

}  // namespace oryx::testing
