// The inference cache (SPEC section 1): per layer one KV cache and one recurrent state, both
// written by EVERY token whatever its mode, so that any later token may use either mode.
//
//   k, v     [B,capacity,H,K] / [B,capacity,H,V]  attention-ready keys (QK-normed, rotated)
//            and values of positions 0..length-1        (models with attention)
//   state    [B,H,K,V] fp32 (fp64 for fp64 models)      (models with a linear mixer)
//   conv_*   [B,W-1,C] the last W-1 inputs of each short convolution (k, v, and q_L)
//
// Prefill (chunked forms) and decode (step forms) both write it; the model advances the
// lengths once all layers have seen the new tokens.
//
// Each sequence has its own length (batched generation of prompts of different lengths):
//   lengths   [B] int64 on the cache's device, mirrored on the host (row_lengths()). A decode
//             step reads positions from the device tensor, so it needs no host sync.
// A row is prefilled alone through row(b), a B = 1 cache whose K/V are views of the batch
// buffers, then store_row(b, ...) keeps what the mixers replaced (states, conv windows) and
// its length. While all lengths are equal the model takes the uniform path (length()),
// bit-identical to a cache that was filled in one batched call.
#pragma once
#include <torch/types.h>

#include <vector>

#include "oryx/config/model_config.h"

namespace oryx {

// Stores `value` into the cache buffer `slot`: by replacing the tensor (callers may hold the
// old one, and gradients flow through carried states), or in place while a CacheWritesInPlace
// is alive on this thread (Model::decode_step: a decode step replayed from a CUDA graph reads
// and writes the buffers it was captured with).
void cache_store(torch::Tensor& slot, const torch::Tensor& value);
bool cache_writes_in_place();

class CacheWritesInPlace {
 public:
  CacheWritesInPlace();
  ~CacheWritesInPlace();
  CacheWritesInPlace(const CacheWritesInPlace&) = delete;
  CacheWritesInPlace& operator=(const CacheWritesInPlace&) = delete;

 private:
  bool previous_;
};

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
  // The length every sequence has; throws when they differ (see uniform()).
  int64_t length() const;
  // True when every sequence holds the same number of tokens.
  bool uniform() const;
  // Per-sequence lengths: [B] int64 on the cache's device, and the same on the host.
  const torch::Tensor& lengths() const { return lengths_; }
  const std::vector<int64_t>& row_lengths() const { return row_lengths_; }
  LayerCache& layer(int64_t i) { return layers_.at(static_cast<size_t>(i)); }

  // Called by the model after every layer has consumed `tokens` new positions: every active
  // sequence's length grows by `tokens`. Throws (before anything is written, through
  // check_room) when an active sequence would pass the capacity.
  void advance(int64_t tokens);
  void check_room(int64_t tokens) const;
  // The largest length among active sequences (0 when none is active).
  int64_t max_active_length() const;

  // Sequence b alone: a B = 1 cache whose K/V buffers are views of row b (writes land in
  // this cache), holding row b's length. Prefill it, then hand it to store_row.
  ModelCache row(int64_t b);
  // Makes row b hold what `row` (from row(b)) holds: the states and conv windows its prefill
  // replaced (cache_store), and its length.
  void store_row(int64_t b, const ModelCache& row);
  // Sequence b is finished: its length no longer advances. Later batched steps still run
  // it (a decode step has a fixed batch) but what they write there is never read.
  void retire_row(int64_t b);

  // Empties the cache (zero state, length 0, every row active) without reallocating.
  void reset();
  // Bytes held by all buffers.
  int64_t bytes() const;

 private:
  ModelCache() = default;  // row()'s views

  int64_t batch_ = 0, capacity_ = 0;
  std::vector<int64_t> row_lengths_;  // host mirror of lengths_
  std::vector<bool> active_;
  torch::Tensor lengths_;             // [B] int64 on the cache's device
  torch::Tensor active_steps_;        // [B] int64, 1 for an active row, 0 for a retired one
  std::vector<LayerCache> layers_;
};

}  // namespace oryx
