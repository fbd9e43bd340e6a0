// Launchers of the cross-entropy kernels (cross_entropy.cu; the tensor API is
// kernels/cross_entropy_ops.h). logits bf16 [N,V] contiguous; targets int64 [N] in [0, V)
// (ignored rows carry any valid id and scale 0); lse, target_logit, scale fp32 [N].
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>

#include "oryx/kernels/linear_params.h"

namespace oryx::kernels {

struct CrossEntropyParams {
  int64_t N = 0;
  int V = 0;
  const bf16_bits* logits = nullptr;  // forward input
  bf16_bits* logits_mut = nullptr;    // backward: read, then overwritten with d logits
  const int64_t* targets = nullptr;
  float* lse = nullptr;               // forward outputs
  float* target_logit = nullptr;
  const float* scale = nullptr;       // backward: d loss / d nll of each row
};

void cross_entropy_forward(const CrossEntropyParams& p, cudaStream_t stream);
void cross_entropy_backward(const CrossEntropyParams& p, cudaStream_t stream);

}  // namespace oryx::kernels
