// The tensor API of our linear-mixer CUDA kernels (built with ORYX_CUDA=ON, which defines
// ORYX_WITH_CUDA_KERNELS). mixers/dispatch.cpp calls these for CUDA tensors; nothing else in
// the library needs to. Arguments and results are those of mixers/recurrence.h.
//
// What the kernels take (kernels_linear_supported says whether a call qualifies):
//   q, k, v   bf16 CUDA tensors [B,T,H,K] / [B,T,H,V] with K = V in {64, 128} (made
//             contiguous here if they are not); fp32 or fp16 q/k/v take the reference path
//   g, beta   any float dtype, computed in fp32 (their gradients come back in their dtype)
//   state     fp32 [B,H,K,V]
// on a compute-capability 9.x GPU (the kernels are compiled for sm_90a only).
#pragma once
#include "oryx/config/model_config.h"
#include "oryx/mixers/recurrence.h"

namespace oryx {

// The multiprocessors of the GPU holding `t` (the work-splitting policies size grids by it).
int kernels_sm_count(const torch::Tensor& t);

// True when the chunked kernels handle a call with these inputs.
bool kernels_linear_supported(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v);
// True when the step kernel handles a call (bf16 or fp32 q/k/v; fp32 state).
bool kernels_step_supported(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                            const torch::Tensor& state);

// Chunked forward through a torch::autograd::Function: when any input requires grad, the
// forward keeps the intermediates the backward kernels need (see kernels/linear_params.h),
// and backward() returns gradients for q, k, v, g, beta and initial_state.
RecurrenceOutput kernels_linear_chunked(LinearKind kind, const torch::Tensor& q,
                                        const torch::Tensor& k, const torch::Tensor& v,
                                        const torch::Tensor& g, const torch::Tensor& beta,
                                        const torch::Tensor& initial_state, double scale);

// The forward's intermediates that the backward kernels read (kernels/linear_params.h):
// undefined where the mixer has none (A, W, E for SSD) or the sequence is empty.
struct LinearSaved {
  torch::Tensor G, F, P, A, W, E, h;
};

// Gradients of a chunked call: dq, dk, dv in bf16; dg, dbeta and dh0 (the initial state's,
// also when there was none) in fp32.
struct LinearGrads {
  torch::Tensor dq, dk, dv, dg, dbeta, dh0;
};

// The two halves of kernels_linear_chunked without torch's autograd, for callers that pair
// them themselves (the torch op library, src/oryx/torch_ops): the forward fills `saved` when
// it is not null; the backward takes the same inputs, those intermediates and the outputs'
// gradients (either may be undefined: no gradient reached that output).
RecurrenceOutput kernels_linear_forward(LinearKind kind, const torch::Tensor& q,
                                        const torch::Tensor& k, const torch::Tensor& v,
                                        const torch::Tensor& g, const torch::Tensor& beta,
                                        const torch::Tensor& initial_state, double scale,
                                        LinearSaved* saved);
LinearGrads kernels_linear_backward(LinearKind kind, const torch::Tensor& q, const torch::Tensor& k,
                                    const torch::Tensor& v, const torch::Tensor& g,
                                    const torch::Tensor& beta, const torch::Tensor& initial_state,
                                    const LinearSaved& saved, const torch::Tensor& grad_o,
                                    const torch::Tensor& grad_state, double scale);

// One decoding token. With `in_place` the new state is written into `state` itself (which
// must then be a contiguous fp32 tensor) and returned; otherwise into a new tensor. Not
// differentiable (decoding only).
RecurrenceOutput kernels_linear_step(LinearKind kind, const torch::Tensor& q, const torch::Tensor& k,
                                     const torch::Tensor& v, const torch::Tensor& g,
                                     const torch::Tensor& beta, const torch::Tensor& state,
                                     double scale, bool in_place);

}  // namespace oryx
