#include "oryx/cache/cache.h"

#include "oryx/common/error.h"
#include "oryx/common/shape.h"

namespace oryx {

ModelCache::ModelCache(const ModelConfig& c, int64_t batch, int64_t capacity, torch::Device device,
                       torch::ScalarType dtype)
    : batch_(batch), capacity_(capacity) {
  ORYX_CHECK(batch > 0, "cache: batch must be positive, got ", batch);
  ORYX_CHECK(capacity > 0 && capacity <= c.max_seq_len, "cache: capacity ", capacity,
             " must be in [1, max_seq_len = ", c.max_seq_len, "]");
  auto act = torch::TensorOptions().device(device).dtype(dtype);
  int64_t W = c.conv_kernel, H = c.n_heads, K = c.head_dim_k, V = c.head_dim_v;
  layers_.resize(static_cast<size_t>(c.n_layers));
  for (auto& l : layers_) {
    l.conv_k = torch::zeros({batch, W - 1, H * K}, act);
    l.conv_v = torch::zeros({batch, W - 1, H * V}, act);
    if (c.has_attention()) {
      l.k = torch::zeros({batch, capacity, H, K}, act);
      l.v = torch::zeros({batch, capacity, H, V}, act);
    }
    if (c.has_linear()) {
      l.conv_q = torch::zeros({batch, W - 1, H * K}, act);
      l.state = torch::zeros({batch, H, K, V}, act.dtype(state_dtype(dtype)));
    }
  }
}

void ModelCache::advance(int64_t tokens) {
  ORYX_CHECK(length_ + tokens <= capacity_, "cache: ", length_, " + ", tokens,
             " tokens exceed its capacity of ", capacity_);
  length_ += tokens;
}

void ModelCache::reset() {
  length_ = 0;
  torch::NoGradGuard no_grad;
  for (auto& l : layers_)
    for (auto* t : {&l.k, &l.v, &l.state, &l.conv_k, &l.conv_v, &l.conv_q})
      if (t->defined()) t->zero_();
}

int64_t ModelCache::bytes() const {
  int64_t n = 0;
  for (const auto& l : layers_)
    for (const auto* t : {&l.k, &l.v, &l.state, &l.conv_k, &l.conv_v, &l.conv_q})
      if (t->defined()) n += t->numel() * static_cast<int64_t>(t->element_size());
  return n;
}

}  // namespace oryx
