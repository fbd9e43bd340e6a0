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

// One decoding token. With `in_place` the new state is written into `state` itself (which
// must then be a contiguous fp32 tensor) and returned; otherwise into a new tensor. Not
// differentiable (decoding only).
RecurrenceOutput kernels_linear_step(LinearKind kind, const torch::Tensor& q, const torch::Tensor& k,
                                     const torch::Tensor& v, const torch::Tensor& g,
                                     const torch::Tensor& beta, const torch::Tensor& state,
                                     double scale, bool in_place);

}  // namespace oryx
