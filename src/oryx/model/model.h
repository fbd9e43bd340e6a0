// The Oryx language model: token embedding, a stack of Oryx layers, a final RMSNorm and the
// LM head. The single-mixer baselines are this same code under their configs (kind
// transformer: every token in mode A; kind linear: every token in mode L).
#pragma once
#include <torch/torch.h>

#include "oryx/cache/cache.h"
#include "oryx/config/model_config.h"
#include "oryx/layer/layer.h"
#include "oryx/layer/modes.h"

namespace oryx {

class OryxModelImpl : public torch::nn::Module {
 public:
  explicit OryxModelImpl(const ModelConfig& c);

  // tokens [B,T] int64 ids in [0, vocab_size); modes [B,T] or [T] bool (true = mode A), or
  // undefined for a single-mode model. With a cache, the tokens continue the cached ones
  // (prefill for T > 1, decoding for T = 1) and the cache advances by T.
  // Returns logits [B,T,vocab] in fp32.
  torch::Tensor forward(const torch::Tensor& tokens, const torch::Tensor& modes,
                        ModelCache* cache = nullptr, MixerForm form = MixerForm::Auto);

  // The final normed hidden states [B,T,D] (forward without the LM head), in the matmul
  // dtype: bf16 under CUDA bf16 autocast, as the head reads them (layer/ops.h matmul_operand).
  torch::Tensor hidden(const torch::Tensor& tokens, const torch::Tensor& modes,
                       ModelCache* cache = nullptr, MixerForm form = MixerForm::Auto);
  torch::Tensor head(const torch::Tensor& hidden) const;

  // hidden() in the training form (no cache, chunked mixers, per-sequence attention runs) in
  // a form a CUDA graph can capture: `modes` built beforehand (TokenModes::from_mask with
  // runs, on the model's device), tokens [B,T] on the model's device and already checked by
  // the caller (ids in range, T within max_seq_len): no host synchronisation, no
  // host-to-device copy. Values equal hidden(tokens, mask).
  torch::Tensor hidden(const torch::Tensor& tokens, const TokenModes& modes);

  // One decoding token per sequence, in the form a CUDA graph can capture: tokens [B,1] on
  // the model's device, `modes` built beforehand for a [B,1] mask, each sequence at its own
  // cache length read on the device. No host synchronisation and no host-to-device copy:
  // the tokens are not checked (the caller made them) and the cache does not advance (call
  // cache.advance(1) after). Values equal forward()'s on the same cache. Returns logits [B,vocab] fp32.
  torch::Tensor decode_step(const torch::Tensor& tokens, const TokenModes& modes, ModelCache& cache);

  // The checks forward() makes of its inputs: tokens [B,T] int64 with ids in range, T within
  // max_seq_len after cache_length cached tokens, and a mask (if given) of T tokens in the
  // modes the model has. On CPU tokens and mask it reads nothing from a device.
  void check_inputs(const torch::Tensor& tokens, const torch::Tensor& modes, int64_t cache_length) const;

  // The LM head's weight [vocab, D] (the embedding when tied).
  const torch::Tensor& head_weight() const { return c_.tie_embeddings ? embed : lm_head; }

  // The mask a single-mode model implies ([T] all true or all false, on the CPU, where
  // TokenModes reads it); throws for oryx models, which need an explicit schedule.
  torch::Tensor default_modes(int64_t T) const;

  const ModelConfig& config() const { return c_; }
  torch::Device device() const { return embed.device(); }
  // The dtype activations take (and caches should hold): the parameters' dtype.
  torch::ScalarType dtype() const { return embed.scalar_type(); }

 private:
  // Embedding, every layer and the final norm over tokens at `positions`.
  torch::Tensor run_layers(const torch::Tensor& tokens, const TokenModes& modes, const torch::Tensor& positions,
                           ModelCache* cache, int64_t cache_length, MixerForm form);

  ModelConfig c_;
  torch::Tensor embed, final_norm, lm_head;
  torch::nn::ModuleList layers;
};
TORCH_MODULE(OryxModel);

// A model with weights drawn from `seed` (torch's global generator is reseeded).
OryxModel model_create(const ModelConfig& c, uint64_t seed = 0);

// Loads a model: the config, then its safetensors weights if the config names a file (else
// weights drawn from `seed`), on `device` with floating tensors as `dtype`.
OryxModel model_load(const ModelConfig& c, uint64_t seed = 0, torch::Device device = torch::kCPU,
                     torch::ScalarType dtype = torch::kFloat32);

}  // namespace oryx
