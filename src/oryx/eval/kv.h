// Key-value lookup in a long list of "key: value" lines. With the default templates (the
// recall blocks of the synthetic corpus, data/synthetic.h, so a model trained on it knows the
// format) a prompt with 3 lines querying the second is
//
//   [eod] "facts:\n" "zekam: 417\n" "lomu: tifa\n" "shipe: 95\n" "recall:\nlomu?"   answer " tifa"
//
// Keys are distinct made-up words of 2-3 syllables; values are distinct, never equal to a
// key, and drawn as `values` says: "number" (0 .. max(1000, 4 * lines) - 1), "word" (a
// made-up word of 1-2 syllables) or "mixed" (either, evenly, as the synthetic corpus does).
// The queried line is line round(depth * (lines - 1)). The value occurs in the prompt only on
// its own line: the query template may not contain {value}.
//
// Trial t of (lines, depth) depends only on (seed, lines, t) and the depth: the depths of a
// line count query different lines of the same lists. Scoring is exact match of the answer
// under teacher forcing, as for NIAH (eval/niah.h).
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "oryx/data/tokenizer.h"
#include "oryx/eval/score.h"

namespace oryx {

struct KvOptions {
  std::vector<int64_t> lines = {16, 64, 256};
  std::vector<double> depths = {0.0, 0.5, 1.0};  // where the queried line sits in the list
  int64_t trials = 20;                            // per (lines, depth)
  std::string values = "mixed";                   // number | word | mixed
  std::string header = "facts:\n";
  std::string line = "{key}: {value}\n";
  std::string query = "recall:\n{key}?";
  std::string answer = " {value}";
  bool prepend_eod = true;
  uint64_t seed = 0;
  ScoreOptions score;
};

// Throws oryx::Error naming a bad option.
void kv_check(const KvOptions& o);

struct KvExample {
  std::vector<int64_t> prompt;
  std::vector<int64_t> answer;
  std::string key, value;
  int64_t line_index = 0;   // the queried line
  int64_t query_at = 0;     // prompt offset of the query's first token
};

KvExample kv_example(const Tokenizer& tok, const KvOptions& o, int64_t lines, double depth, int64_t trial);

struct KvRow {
  std::string schedule;
  int64_t lines = 0;
  double depth = 0;
  int64_t trials = 0;
  double prompt_tokens = 0;          // mean
  double accuracy = 0;               // trials whose whole answer is the argmax
  double answer_log_likelihood = 0;  // mean over trials, nats
  int64_t fed = 0, fed_a = 0;
  double attention_fraction() const { return fed ? static_cast<double>(fed_a) / fed : 0.0; }
  nlohmann::json to_json() const;
};

// One row per (lines, depth), line counts outer.
std::vector<KvRow> kv_eval(OryxModel& model, const Tokenizer& tok, const KvOptions& o,
                           const Schedule& schedule);

}  // namespace oryx
