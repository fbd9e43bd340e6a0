// Perplexity and bits per byte of a model on held-out tokens, under a mode schedule.
//
// Sources, chosen by what the path is:
//   dataset  a folder with meta.json (`oryx prepare`): one split (default "val"), cut into
//            the trainer's validation windows (data/loader.h EvalWindows: non-overlapping
//            windows of T+1 tokens, the tail that fills no window unused), so the loss equals
//            the trainer's periodic validation loss on the same split
//   shard    one .bin token shard, cut the same way
//   text     anything else: files or folders in a corpus format (data/corpus.h), encoded
//            with the model's tokenizer, every document followed by the end-of-document id;
//            every token after the first is scored once: windows of T inputs advance by T,
//            each window's first input is the previous window's last target, and the last,
//            shorter window is padded with ignored targets
//
// The schedule gives the modes of each window's T input positions (prompt_modes(T)); the
// result states the attention fraction over those positions.
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "oryx/data/shard.h"
#include "oryx/data/tokenizer.h"
#include "oryx/eval/loss.h"

namespace oryx {

struct PplOptions {
  int64_t seq_len = 0;       // T; 0 = the model's max_seq_len
  int64_t batch = 8;         // windows per forward pass
  int64_t max_windows = 0;   // 0 = every window
  bool progress = false;
  // Non-empty: every window's inputs, targets, modes and per-target losses, one JSON line each
  // ({"schedule", "window", "inputs", "targets", "modes", "nll"}), appended to this file.
  std::string token_losses;
};

class PplData {
 public:
  // `split` is used for datasets only. `tok` encodes text sources (required for them);
  // `max_tokens` > 0 stops reading text once that many tokens are in hand.
  PplData(const std::string& path, const std::string& split, const Tokenizer* tok, int64_t max_tokens = 0);

  enum class Kind { Dataset, Shard, Text };
  Kind kind() const { return kind_; }
  // "dataset DIR split 'val'", "shard FILE", "text PATH (N documents)".
  std::string describe() const;
  // The largest token id the data can hold plus one (dataset or shard vocabulary, or the
  // tokenizer's), to check against the model.
  int64_t vocab_size() const { return vocab_size_; }
  // The tokenizer spec recorded by a dataset ("" for shards and text).
  std::string dataset_tokenizer() const;
  // Its tokenizer_identity ("" for shards and text: nothing records one).
  std::string dataset_tokenizer_id() const { return kind_ == Kind::Dataset ? dataset_.tokenizer_id : ""; }

  // Windows of T inputs (at most `max_windows` > 0), `batch` at a time.
  int64_t windows(int64_t T, int64_t max_windows) const;
  BatchSource batches(int64_t T, int64_t batch, int64_t max_windows) const;

 private:
  Kind kind_;
  std::string path_, split_;
  Dataset dataset_;                 // Dataset and Shard (a one-shard dataset made in memory)
  std::vector<int64_t> tokens_;     // Text
  int64_t documents_ = 0;
  int64_t vocab_size_ = 0;
};

struct PplResult {
  std::string schedule, data;
  int64_t seq_len = 0, windows = 0;
  EvalLoss loss;
  nlohmann::json to_json() const;   // loss.to_json() plus task, schedule, data, seq_len, windows
};

// `token_bytes` (token_byte_lengths of the data's tokenizer) enables bits per byte.
PplResult ppl_eval(OryxModel& model, const PplData& data, const PplOptions& o, const Schedule& schedule,
                   const std::vector<int32_t>* token_bytes);

}  // namespace oryx
