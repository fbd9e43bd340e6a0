// Multi-query associative recall (MQAR, after zoology's data/multiquery_ar.py; our own code).
// A sequence of T tokens first lists N key-value pairs, then asks for the keys again at
// scattered positions; the model must emit each key's value right after seeing the key.
//
// Vocabulary (ids below `vocab`): id 0 is the filler, keys are [1, 1+K) and values
// [1+K, vocab) with K = (vocab-1)/2, so keys and values never share an id. Per example the N
// keys are distinct, the N values are distinct, and pairs are drawn without replacement.
//
// Layout, with N = 2 pairs and T = 12 (k/v: the example's keys and values, . filler):
//   position  0  1  2  3 | 4  5  6  7  8  9 10 11
//   inputs    k1 v1 k2 v2| .  .  k2 .  .  .  k1 .
//   targets   -  -  -  - | -  -  v2 -  -  -  v1 -      (- = kIgnoreIndex)
// The query region after the 2N pair tokens has S = floor((T-2N)/2) slots; slot s is
// position 2N+2s. The N queries take N distinct slots drawn with probability proportional
// to (s+1)^(a-1) (a = power_a; small a puts most queries soon after the pairs, the way
// zoology does), and query i asks key i, so query order is random. A value never appears in
// the query region: what follows a query key is filler, and the target is only a label.
// Filler is id 0, or (noise_filler) an id drawn uniformly from the vocabulary minus the
// example's own keys and values, so filler can neither ask a question nor leak an answer.
//
// Example i of a (seed, pairs, seq_len) setting depends only on those and i (eval/rng.h):
// a training driver walks i forward for fresh batches; evaluation uses its own seed.
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "oryx/data/loader.h"
#include "oryx/eval/score.h"

namespace oryx {

struct MqarOptions {
  int64_t vocab = 8192;       // ids used, [0, vocab); at most the model's vocab_size
  int64_t seq_len = 256;      // T
  int64_t pairs = 16;         // N; needs 4N <= T
  double power_a = 0.01;      // query-slot distribution p(s) ~ (s+1)^(a-1)
  bool noise_filler = true;   // random filler ids instead of id 0
  uint64_t seed = 0;
};

// Throws oryx::Error naming the option that makes the task impossible.
void mqar_check(const MqarOptions& o);

struct MqarExample {
  std::vector<int64_t> inputs;   // [T]
  std::vector<int64_t> targets;  // [T]: kIgnoreIndex except the value at each query key
};

MqarExample mqar_example(const MqarOptions& o, int64_t index);

// Examples first_index .. first_index+batch-1 as tensors [batch, T] (CPU, int64): a training
// batch whose loss is token_loss(logits, targets).
Batch mqar_batch(const MqarOptions& o, int64_t batch, int64_t first_index);
// The same with each example's settings chosen by its index (a training mix of pair counts);
// every example must have the same seq_len.
Batch mqar_batch(const std::function<MqarOptions(int64_t index)>& options_of, int64_t batch, int64_t first_index);

struct MqarEvalOptions {
  MqarOptions task;                     // pairs and seed are overridden per row / kept
  std::vector<int64_t> pairs = {4, 8, 16, 32, 64};  // one result row per count
  int64_t examples = 256;               // examples per pair count
  ScoreOptions score;
};

// One row per number of pairs.
struct MqarRow {
  std::string schedule;
  int64_t pairs = 0, seq_len = 0, vocab = 0;
  int64_t examples = 0, queries = 0;
  double accuracy = 0;          // queries answered right (argmax over ids < vocab)
  double example_accuracy = 0;  // examples with every query right
  int64_t fed = 0, fed_a = 0;
  double attention_fraction() const { return fed ? static_cast<double>(fed_a) / fed : 0.0; }
  nlohmann::json to_json() const;
};

std::vector<MqarRow> mqar_eval(OryxModel& model, const MqarEvalOptions& o, const Schedule& schedule);

// The same rows with attention placed by content (Oryx models only): each query key is fed in
// mode A and every other token in mode L, so the attention fraction is pairs / seq_len. The
// queries read the one KV cache that every token, in either mode, wrote: what an oracle that
// knows where recall happens would schedule. Rows name the schedule "A@queries".
std::vector<MqarRow> mqar_eval_attend_queries(OryxModel& model, const MqarEvalOptions& o);
inline constexpr const char* kMqarAttendQueries = "A@queries";

}  // namespace oryx
