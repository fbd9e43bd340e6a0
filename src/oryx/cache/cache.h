// The inference cache (SPEC section 1): per layer one KV cache and one recurrent state, both
// written by EVERY token whatever its mode, so that any later token may use either mode.
//
//   k, v     [B,capacity,H,K] / [B,capacity,H,V]  attention-ready keys (QK-normed, rotated)
//            and values of positions 0..length-1        (models with attention)
//   state    [B,H,K,V] fp32 (fp64 for fp64 models)      (models with a linear mixer)
//   conv_*   [B,W-1,C] the last W-1 inputs of each short convolution (k, v, and q_L)
//
// Prefill (chunked forms) and decode (step forms) both write it; the model advances
// `length` once all layers have seen the new tokens.
#pragma once
#include <torch/types.h>

#include <vector>

#include "oryx/config/model_config.h"

namespace oryx {

struct LayerCache {
  torch::Tensor k, v;
  torch::Tensor state;
  torch::Tensor conv_k, conv_v, conv_q;
};

class ModelCache {
 public:
  // `capacity` tokens (at most the config's max_seq_len); activations in `dtype` on `device`.
  ModelCache(const ModelConfig& config, int64_t batch, int64_t capacity, torch::Device device,
             torch::ScalarType dtype);

  int64_t batch() const { return batch_; }
  int64_t capacity() const { return capacity_; }
  int64_t length() const { return length_; }
  LayerCache& layer(int64_t i) { return layers_.at(static_cast<size_t>(i)); }

  // Called by the model after every layer has consumed `tokens` new positions.
  void advance(int64_t tokens);
  // Empties the cache (zero state, length 0) without reallocating.
  void reset();
  // Bytes held by all buffers.
  int64_t bytes() const;

 private:
  int64_t batch_, capacity_, length_ = 0;
  std::vector<LayerCache> layers_;
};

}  // namespace oryx
