#include "oryx/data/loader.h"

#include <torch/torch.h>

#include <algorithm>

#include "oryx/common/error.h"
#include "oryx/common/json_fields.h"

namespace oryx {
namespace {

uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

int64_t windows_of(const TokenStream& s, int64_t seq_len) {
  ORYX_CHECK(seq_len > 0, "sequence length must be positive, got ", seq_len);
  ORYX_CHECK(s.size() >= seq_len + 1, s.name(), " has ", s.size(),
             " tokens, fewer than one window of sequence length + 1 = ", seq_len + 1,
             "; use a shorter sequence length or more data");
  return s.size() / (seq_len + 1);
}

// Reads the windows `ids` into one [n, T+1] block and splits it into inputs and targets.
Batch make_batch(const TokenStream& s, const std::vector<int64_t>& ids, int64_t seq_len) {
  auto rows = torch::empty({static_cast<int64_t>(ids.size()), seq_len + 1}, torch::kInt64);
  int64_t* p = rows.data_ptr<int64_t>();
  for (size_t b = 0; b < ids.size(); ++b)
    s.read(ids[b] * (seq_len + 1), seq_len + 1, p + static_cast<int64_t>(b) * (seq_len + 1));
  return {rows.narrow(1, 0, seq_len).contiguous(), rows.narrow(1, 1, seq_len).contiguous()};
}

}  // namespace

// A balanced Feistel network on 2*h bits (2^(2h) >= n) is a bijection of that domain;
// cycle-walking (applying it again while the result is >= n) restricts it to a bijection of
// [0, n). The domain is under 4n, so a walk takes fewer than 4 rounds on average.
int64_t loader_permute(int64_t i, int64_t n, uint64_t seed, int64_t epoch) {
  TORCH_INTERNAL_ASSERT(i >= 0 && i < n);
  if (n == 1) return 0;
  const int bits = 64 - __builtin_clzll(static_cast<uint64_t>(n - 1));
  const int h = (bits + 1) / 2;
  const uint64_t mask = (uint64_t{1} << h) - 1;
  uint64_t keys[4];
  for (int r = 0; r < 4; ++r)
    keys[r] = mix64(seed ^ mix64(static_cast<uint64_t>(epoch) * 4 + static_cast<uint64_t>(r) +
                                 0x9e3779b97f4a7c15ULL));
  auto x = static_cast<uint64_t>(i);
  do {
    uint64_t left = x >> h, right = x & mask;
    for (uint64_t k : keys) {
      const uint64_t next = left ^ (mix64(right ^ k) & mask);
      left = right;
      right = next;
    }
    x = (left << h) | right;
  } while (x >= static_cast<uint64_t>(n));
  return static_cast<int64_t>(x);
}

// ---- TokenStream ----

TokenStream::TokenStream(const Dataset& ds, const std::string& split)
    : name_(ds.dir + " split '" + split + "'") {
  for (const auto& file : ds.split(split).shards) {
    ShardReader r(ds.shard_path(file));
    if (r.size() == 0) continue;
    starts_.push_back(total_);
    total_ += r.size();
    shards_.push_back(std::move(r));
  }
}

void TokenStream::read(int64_t offset, int64_t n, int64_t* out) const {
  TORCH_INTERNAL_ASSERT(offset >= 0 && n >= 0 && offset + n <= total_);
  // The shard holding `offset`: the last one starting at or before it.
  size_t s = static_cast<size_t>(std::upper_bound(starts_.begin(), starts_.end(), offset) -
                                 starts_.begin()) - 1;
  while (n > 0) {
    const int64_t local = offset - starts_[s];
    const int64_t take = std::min(n, shards_[s].size() - local);
    shards_[s].read(local, take, out);
    out += take;
    offset += take;
    n -= take;
    ++s;
  }
}

// ---- BatchLoader ----

BatchLoader::BatchLoader(const Dataset& ds, const std::string& split, int64_t batch_size,
                         int64_t seq_len, uint64_t seed, int64_t rank, int64_t world_size)
    : stream_(ds, split),
      batch_size_(batch_size),
      seq_len_(seq_len),
      rank_(rank),
      world_size_(world_size),
      seed_(seed),
      windows_(windows_of(stream_, seq_len)) {
  ORYX_CHECK(batch_size > 0, "batch size must be positive, got ", batch_size);
  ORYX_CHECK(world_size > 0 && rank >= 0 && rank < world_size, "loader rank ", rank,
             " is outside [0, world size ", world_size, ")");
}

int64_t BatchLoader::window_at(int64_t epoch, int64_t index) const {
  return loader_permute(index, windows_, seed_, epoch);
}

Batch BatchLoader::next() {
  std::vector<int64_t> ids;
  ids.reserve(static_cast<size_t>(batch_size_));
  const int64_t first = rank_ * batch_size_;
  for (int64_t j = 0; j < batch_size_ * world_size_; ++j) {
    if (j >= first && j < first + batch_size_) ids.push_back(window_at(epoch_, index_));
    if (++index_ == windows_) {
      index_ = 0;
      ++epoch_;
    }
  }
  return make_batch(stream_, ids, seq_len_);
}

nlohmann::json BatchLoader::state() const {
  return {{"seed", seed_},       {"epoch", epoch_},     {"index", index_},
          {"windows", windows_}, {"seq_len", seq_len_}};
}

void BatchLoader::restore(const nlohmann::json& state) {
  JsonFields f(state, "data loader state");
  const auto& seed = f.raw("seed");
  const int64_t epoch = f.nonnegative_int("epoch", -1);
  const int64_t index = f.nonnegative_int("index", -1);
  const int64_t windows = f.positive_int("windows");
  const int64_t seq_len = f.positive_int("seq_len");
  f.reject_unknown();
  ORYX_CHECK(seed.is_number_unsigned() || (seed.is_number_integer() && seed.get<int64_t>() >= 0),
             "data loader state: key 'seed' must be a non-negative integer, got ", seed.dump());
  ORYX_CHECK(seq_len == seq_len_, "data loader state was saved with sequence length ", seq_len,
             ", this loader uses ", seq_len_);
  ORYX_CHECK(windows == windows_, "data loader state was saved for ", windows,
             " windows per epoch, but ", stream_.name(), " has ", windows_,
             " (a different dataset?)");
  ORYX_CHECK(index < windows_, "data loader state: index ", index, " is not below the ", windows_,
             " windows per epoch");
  seed_ = seed.get<uint64_t>();
  epoch_ = epoch;
  index_ = index;
}

// ---- EvalWindows ----

EvalWindows::EvalWindows(const Dataset& ds, const std::string& split, int64_t batch_size,
                         int64_t seq_len, int64_t max_windows)
    : stream_(ds, split), batch_size_(batch_size), seq_len_(seq_len) {
  ORYX_CHECK(batch_size > 0, "batch size must be positive, got ", batch_size);
  ORYX_CHECK(max_windows >= 0, "max windows must be >= 0, got ", max_windows);
  windows_ = windows_of(stream_, seq_len);
  if (max_windows > 0) windows_ = std::min(windows_, max_windows);
}

std::optional<Batch> EvalWindows::next() {
  if (next_ == windows_) return std::nullopt;
  const int64_t n = std::min(batch_size_, windows_ - next_);
  std::vector<int64_t> ids(static_cast<size_t>(n));
  for (int64_t b = 0; b < n; ++b) ids[static_cast<size_t>(b)] = next_ + b;
  next_ += n;
  return make_batch(stream_, ids, seq_len_);
}

}  // namespace oryx
