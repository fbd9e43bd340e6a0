#include "oryx/cache/cache.h"

#include <algorithm>
#include <array>

#include "oryx/common/error.h"
#include "oryx/common/shape.h"

namespace oryx {

namespace {

// Every buffer of a layer (some undefined, by the model's kind); const or not.
template <typename Layer>
auto buffers(Layer& l) {
  return std::array{&l.k, &l.v, &l.state, &l.conv_k, &l.conv_v, &l.conv_q};
}

}  // namespace

namespace {
thread_local bool g_in_place = false;
}  // namespace

bool cache_writes_in_place() { return g_in_place; }
CacheWritesInPlace::CacheWritesInPlace() : previous_(g_in_place) { g_in_place = true; }
CacheWritesInPlace::~CacheWritesInPlace() { g_in_place = previous_; }

void cache_store(torch::Tensor& slot, const torch::Tensor& value) {
  if (g_in_place && slot.defined())
    slot.copy_(value);
  else
    slot = value;
}

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
  row_lengths_.assign(static_cast<size_t>(batch), 0);
  active_.assign(static_cast<size_t>(batch), true);
  lengths_ = torch::zeros({batch}, torch::TensorOptions().device(device).dtype(torch::kLong));
  active_steps_ = torch::ones_like(lengths_);
}

int64_t ModelCache::length() const {
  auto [lo, hi] = std::minmax_element(row_lengths_.begin(), row_lengths_.end());
  ORYX_CHECK(*lo == *hi, "cache: its sequences hold different lengths (", *lo, " to ", *hi,
             "); read lengths() instead");
  return row_lengths_.front();
}

bool ModelCache::uniform() const {
  return std::all_of(row_lengths_.begin(), row_lengths_.end(),
                     [&](int64_t n) { return n == row_lengths_.front(); });
}

int64_t ModelCache::max_active_length() const {
  int64_t n = 0;
  for (size_t b = 0; b < row_lengths_.size(); ++b)
    if (active_[b]) n = std::max(n, row_lengths_[b]);
  return n;
}

void ModelCache::check_room(int64_t tokens) const {
  int64_t longest = max_active_length();
  ORYX_CHECK(longest + tokens <= capacity_, "cache: ", longest, " + ", tokens,
             " tokens exceed its capacity of ", capacity_);
}

void ModelCache::advance(int64_t tokens) {
  check_room(tokens);
  for (size_t b = 0; b < row_lengths_.size(); ++b)
    if (active_[b]) row_lengths_[b] += tokens;
  torch::NoGradGuard no_grad;
  lengths_.add_(active_steps_, tokens);
}

ModelCache ModelCache::row(int64_t b) {
  ORYX_CHECK(b >= 0 && b < batch_, "cache: row ", b, " is outside its batch of ", batch_);
  ModelCache r;
  r.batch_ = 1;
  r.capacity_ = capacity_;
  r.row_lengths_ = {row_lengths_[static_cast<size_t>(b)]};
  r.active_ = {true};
  r.lengths_ = lengths_.narrow(0, b, 1).clone();
  r.active_steps_ = torch::ones_like(r.lengths_);
  r.layers_.resize(layers_.size());
  for (size_t i = 0; i < layers_.size(); ++i) {
    auto from = buffers(layers_[i]), to = buffers(r.layers_[i]);
    for (size_t j = 0; j < from.size(); ++j)
      if (from[j]->defined()) *to[j] = from[j]->narrow(0, b, 1);
  }
  return r;
}

void ModelCache::store_row(int64_t b, const ModelCache& r) {
  ORYX_CHECK(b >= 0 && b < batch_, "cache: row ", b, " is outside its batch of ", batch_);
  ORYX_CHECK(r.batch_ == 1 && r.layers_.size() == layers_.size() && r.capacity_ == capacity_,
             "cache: store_row takes a cache made by row()");
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < layers_.size(); ++i) {
    auto to = buffers(layers_[i]);
    auto from = buffers(r.layers_[i]);
    for (size_t j = 0; j < to.size(); ++j) {
      if (!to[j]->defined()) continue;
      auto slot = to[j]->narrow(0, b, 1);
      // K/V were written through the views; the prefill replaced the states and windows
      // (cache_store outside decode_step): copy those back.
      if (from[j]->data_ptr() != slot.data_ptr()) slot.copy_(*from[j]);
    }
  }
  int64_t n = r.row_lengths_.front();
  row_lengths_[static_cast<size_t>(b)] = n;
  lengths_.narrow(0, b, 1).fill_(n);
}

void ModelCache::retire_row(int64_t b) {
  ORYX_CHECK(b >= 0 && b < batch_, "cache: row ", b, " is outside its batch of ", batch_);
  active_[static_cast<size_t>(b)] = false;
  torch::NoGradGuard no_grad;
  active_steps_.narrow(0, b, 1).zero_();
}

void ModelCache::reset() {
  std::fill(row_lengths_.begin(), row_lengths_.end(), 0);
  std::fill(active_.begin(), active_.end(), true);
  torch::NoGradGuard no_grad;
  lengths_.zero_();
  active_steps_.fill_(1);
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
