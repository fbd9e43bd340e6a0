// Where the layer calls a linear recurrence: picks our CUDA kernels for CUDA tensors when
// the build has them (ORYX_CUDA) and the shapes are supported, the reference chunked form
// otherwise. The choice is never silent to a user who asks: linear_backend_name() says
// which path a call with these inputs takes, and ORYX_FORCE_REFERENCE=1 in the environment
// forces the reference everywhere (for A/B checks).
#pragma once
#include "oryx/config/model_config.h"
#include "oryx/mixers/recurrence.h"

namespace oryx {

// Sequence form (training and prefill). Same arguments as gdn_chunked / ssd_chunked. On the
// kernel path (bf16 CUDA q/k/v, K = V in {64, 128}, sm_90) the chunk length is fixed at 64
// whatever `chunk` says (the result does not depend on it) and the call is differentiable
// through the kernels' own backward; fp32 inputs stay on the reference path.
RecurrenceOutput linear_chunked(LinearKind kind, const torch::Tensor& q, const torch::Tensor& k,
                                const torch::Tensor& v, const torch::Tensor& g,
                                const torch::Tensor& beta, const torch::Tensor& initial_state,
                                double scale, int64_t chunk);

// Per-token reference loop (tests and debugging).
RecurrenceOutput linear_naive(LinearKind kind, const torch::Tensor& q, const torch::Tensor& k,
                              const torch::Tensor& v, const torch::Tensor& g,
                              const torch::Tensor& beta, const torch::Tensor& initial_state,
                              double scale);

// One decoding token. Same arguments as gdn_step / ssd_step; `state` is not modified and the
// new state is returned in a new tensor. On CUDA (bf16 or fp32 q/k/v, fp32 state, K and V in
// {64, 128}) one fused kernel reads the old state once and writes the new one once.
RecurrenceOutput linear_step(LinearKind kind, const torch::Tensor& q, const torch::Tensor& k,
                             const torch::Tensor& v, const torch::Tensor& g,
                             const torch::Tensor& beta, const torch::Tensor& state, double scale);

// The same step updating `state` (fp32 [B,H,K,V]) IN PLACE, for decoding caches: returns o
// and `state` itself. Values equal linear_step's. The kernel path needs a contiguous state;
// otherwise (and on the reference path) the result is computed out of place and copied in.
RecurrenceOutput linear_step_(LinearKind kind, const torch::Tensor& q, const torch::Tensor& k,
                              const torch::Tensor& v, const torch::Tensor& g,
                              const torch::Tensor& beta, torch::Tensor& state, double scale);

// True when ORYX_FORCE_REFERENCE=1: every fused path (these, the layer's in layer/ops.h and
// the fused head loss in model/head_loss.h) then takes its reference.
bool reference_forced();

// "cuda-kernels" or "reference" for a sequence call on tensors like `q`.
const char* linear_backend_name(const torch::Tensor& q);

}  // namespace oryx
