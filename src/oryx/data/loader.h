// Batches for training and evaluation, read straight from a dataset's shards (mmap).
//
// A split's shards, concatenated, are one token stream of N tokens. It is cut into
// W = floor(N / (T+1)) non-overlapping windows of T+1 tokens; window w starts at token
// w*(T+1), and gives inputs = window[0..T) and targets = window[1..T+1). The last
// N - W*(T+1) tokens are not used.
//
// BatchLoader visits the windows of epoch e in a pseudo-random order that depends only on
// (seed, e): a Feistel permutation of [0, W), so nothing of size W is stored and the
// position in the data is just (epoch, index). A batch takes the next B windows, running
// on into the next epoch when one ends (so a split smaller than one batch still works).
// With world_size > 1, a step takes B*world_size consecutive windows and rank r gets the
// r-th run of B: ranks see disjoint windows and together the same ones one rank would
// with a batch of B*world_size.
//
// EvalWindows walks the windows in order (no shuffle), for validation loss.
#pragma once
#include <torch/types.h>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "oryx/data/shard.h"

namespace oryx {

struct Batch {
  torch::Tensor inputs;   // [B,T] int64, CPU
  torch::Tensor targets;  // [B,T] int64, CPU: inputs shifted left by one token
};

// A split's shards as one stream of tokens.
class TokenStream {
 public:
  TokenStream(const Dataset& ds, const std::string& split);
  int64_t size() const { return total_; }
  // Copies tokens [offset, offset + n), which may span shards, into out[0..n).
  void read(int64_t offset, int64_t n, int64_t* out) const;
  const std::string& name() const { return name_; }  // "<dir> split '<split>'", for messages

 private:
  std::vector<ShardReader> shards_;
  std::vector<int64_t> starts_;  // first stream offset of each shard
  int64_t total_ = 0;
  std::string name_;
};

class BatchLoader {
 public:
  // Throws oryx::Error if the split has fewer than seq_len + 1 tokens.
  BatchLoader(const Dataset& ds, const std::string& split, int64_t batch_size, int64_t seq_len,
              uint64_t seed, int64_t rank = 0, int64_t world_size = 1);

  Batch next();

  // The position in the data: {"seed", "epoch", "index", "windows", "seq_len"}. restore()
  // takes it back (refusing a different window count or sequence length, which would mean
  // another dataset or model), after which next() returns what the saved loader's would.
  nlohmann::json state() const;
  void restore(const nlohmann::json& state);

  int64_t windows() const { return windows_; }  // W, per epoch
  int64_t epoch() const { return epoch_; }
  int64_t index() const { return index_; }       // windows of this epoch already taken

 private:
  int64_t window_at(int64_t epoch, int64_t index) const;

  TokenStream stream_;
  int64_t batch_size_, seq_len_, rank_, world_size_;
  uint64_t seed_;
  int64_t windows_;
  int64_t epoch_ = 0, index_ = 0;
};

class EvalWindows {
 public:
  // max_windows = 0 takes every window of the split.
  EvalWindows(const Dataset& ds, const std::string& split, int64_t batch_size, int64_t seq_len,
              int64_t max_windows = 0);
  // The next batch in order; the last may hold fewer than batch_size rows. nullopt at the end.
  std::optional<Batch> next();
  void reset() { next_ = 0; }
  int64_t windows() const { return windows_; }  // how many this iterator yields in all

 private:
  TokenStream stream_;
  int64_t batch_size_, seq_len_;
  int64_t windows_;
  int64_t next_ = 0;
};

// The permutation BatchLoader uses: a bijection of [0, n) keyed by (seed, epoch). Exposed
// for tests.
int64_t loader_permute(int64_t i, int64_t n, uint64_t seed, int64_t epoch);

}  // namespace oryx
