// The training loss without the logits tensor: the LM head and cross-entropy fused and
// chunked over rows, so [B*T, vocab] logits (2 GB in fp32 at B8 x T2048 x 32000) never exist
// at once. Per chunk of rows the forward computes logits = h W^T (bf16 under CUDA autocast,
// as the head's matmul would), their log-sum-exp in fp32 and the target logit, and keeps only
// the log-sum-exp; the backward recomputes each chunk's logits and forms
// d logits = (softmax - onehot) * grad / n chunk by chunk (on bf16 CUDA logits both passes
// are our kernels, kernels/cross_entropy.cu). Equal to
// token_loss(linear(h, W), targets) (eval/loss.h) up to the order of the sums: the tests
// compare them.
#pragma once
#include <torch/types.h>

#include "oryx/model/model.h"

namespace oryx {

// Mean over the targets that are not `ignore_index` of -log softmax(h W^T)[target]; 0 when
// every target is ignored. hidden [N,D], weight [V,D], targets [N] int64. Differentiable in
// hidden and weight. chunk_rows 0 picks chunks of about 256 MB of fp32 logits.
torch::Tensor linear_cross_entropy(const torch::Tensor& hidden, const torch::Tensor& weight,
                                   const torch::Tensor& targets, int64_t ignore_index = -100,
                                   int64_t chunk_rows = 0);

// The model's training loss on tokens [B,T] with targets [B,T] (modes as for forward).
torch::Tensor model_loss(OryxModel& model, const torch::Tensor& tokens, const torch::Tensor& modes,
                         const torch::Tensor& targets, int64_t ignore_index = -100);

// The same through OryxModelImpl::hidden(tokens, TokenModes): tokens and targets on the
// model's device, checked by the caller; no host synchronisation (a CUDA graph captures it).
torch::Tensor model_loss(OryxModel& model, const torch::Tensor& tokens, const TokenModes& modes,
                         const torch::Tensor& targets, int64_t ignore_index = -100);

}  // namespace oryx
