// Random inputs for the mixers, drawn from the domains the layer actually produces
// (STYLE.md example 7): GDN keys are L2-normalised and beta = sigmoid(.), Mamba-2's beta is
// dt = softplus(.) and its log decay g = -exp(A_log) dt; attention keys are unconstrained.
#pragma once
#include <torch/torch.h>

#include <functional>
#include <string>
#include <vector>

namespace oryx::testing {

enum class LinearOp { GatedDeltaNet, Mamba2 };
const char* to_string(LinearOp op);

struct RecurrenceInputs {
  torch::Tensor q, k, v, g, beta, initial_state;  // see mixers/recurrence.h
  double scale = 1.0;
  std::vector<torch::Tensor> all() const { return {q, k, v, g, beta, initial_state}; }
};

// [B,T,H,K] / [B,T,H,V] inputs in `dtype`; the initial state (fp32/fp64) only if `with_state`.
RecurrenceInputs make_recurrence_inputs(LinearOp op, int64_t B, int64_t T, int64_t H, int64_t K,
                                        int64_t V, torch::ScalarType dtype, bool with_state);

// Central finite differences of the scalar f() with respect to every element of `x`
// (which must be fp64), compared with `grad`; returns the max relative error.
double finite_difference_error(const std::function<torch::Tensor()>& f, torch::Tensor x,
                               const torch::Tensor& grad, double eps = 1e-6);

}  // namespace oryx::testing
