// Mode A of the Oryx layer: the attention-only ("supporting") parameters and the glue
// between the shared k, v and the attention forms.
//   parameters: w_q [H*K, D] (unless share_q), q_norm [K], k_norm [K] (QK-norm gains),
//               out_norm [V] when separate_out_norm
#pragma once
#include <torch/torch.h>

#include "oryx/cache/cache.h"
#include "oryx/config/model_config.h"
#include "oryx/layer/modes.h"

namespace oryx {

class AttentionMixerImpl : public torch::nn::Module {
 public:
  explicit AttentionMixerImpl(const ModelConfig& c);

  // Attention-ready copy of the shared keys: QK-norm, then RoPE at absolute positions [T].
  torch::Tensor keys(const torch::Tensor& k, const torch::Tensor& positions) const;
  // QK-norm with `gain` (when the config has it), then RoPE (when it has it) of q or k
  // [B,T,H,K]: one fused kernel on bf16 CUDA tensors (kernels/norm_rope.cu), else the ops.
  torch::Tensor norm_rope(const torch::Tensor& x, const torch::Tensor& gain, const torch::Tensor& positions) const;

  // x: normed input [B,T,D]; q_shared: the shared-Q projection [B,T,H*K] or undefined;
  // k, v: shared keys/values [B,T,H,K]/[B,T,H,V]; positions [T] absolute.
  // Appends this call's keys and values to the cache (every token, whatever its mode), then
  // attends for the positions in mode A. Returns [B,T,H,V] (rows of mode-L positions are
  // zero), or undefined when no token is in mode A.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& q_shared,
                        const torch::Tensor& k, const torch::Tensor& v, const TokenModes& modes,
                        const torch::Tensor& positions, LayerCache* cache, int64_t cache_length,
                        MixerForm form);

  torch::Tensor w_q, q_norm, k_norm, out_norm;

 private:
  // Training without a cache when sequences query different positions, by the plan `runs`
  // (layer/attention_runs.h): each sequence's own entries of mode-A tokens (chunk-sparse
  // attention, attention_runs), or every position of the sequences that have a mode-A token
  // when that is cheaper; ka are attention-ready keys.
  torch::Tensor forward_runs(const torch::Tensor& x, const torch::Tensor& q_shared, const torch::Tensor& ka,
                             const torch::Tensor& v, const AttentionRuns& runs, double scale) const;

  ModelConfig c_;
};
TORCH_MODULE(AttentionMixer);

}  // namespace oryx
