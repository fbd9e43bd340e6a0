// Needle in a haystack over real text. A prompt of exactly `length` tokens is
//
//   [eod] haystack[0 .. c) NEEDLE haystack[c .. H) "\n\n" QUESTION        answer: " VALUE"
//
// where the haystack is H tokens of consecutive sentences from a corpus, the needle is one
// sentence (default "The special magic number for {key} is {value}.") with a made-up key
// and a random `value_digits`-digit value, and the question (default "What is the special
// magic number for {key}? The special magic number for {key} is") names the key only.
// The needle goes in at the sentence boundary whose token offset c is nearest to depth * H
// (0: first thing after eod, 1: just before the question); rows report the depth achieved.
//
// The haystack, key and value of trial t at a given length depend only on (seed, length, t),
// not on the depth, so the depths of a length compare the same texts. A key or value that
// occurs in the chosen haystack text is redrawn, so the value occurs in the prompt exactly
// once, inside the needle.
//
// Scoring (eval/score.h): the answer's tokens are fed after the prompt, as generated tokens
// would be; a trial is right when every answer token is the argmax (greedy decoding would
// write the value). Answer positions take the schedule's generated-token mode.
//
// Tokenization: each haystack sentence, the needle (with a trailing space), the question
// (after "\n\n") and the answer are encoded separately, so a piece boundary never spans two
// of them (exact for the byte tokenizer, near-exact for SentencePiece).
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "oryx/data/tokenizer.h"
#include "oryx/eval/score.h"

namespace oryx {

// Sentences of a corpus, tokenized once. A sentence ends after ". ", "! ", "? " or a newline
// (the separator stays with it); a document ends with "\n\n".
class NiahHaystack {
 public:
  // Reads documents from `paths` (any format of data/corpus.h, or a dataset folder, whose
  // "val" split, else "train", is decoded back to text) until `max_bytes` of text.
  NiahHaystack(const std::vector<std::string>& paths, const Tokenizer& tok, int64_t max_bytes);

  int64_t sentences() const { return static_cast<int64_t>(text_.size()); }
  const std::string& text(int64_t i) const { return text_[static_cast<size_t>(i)]; }
  const std::vector<int64_t>& tokens(int64_t i) const { return tokens_[static_cast<size_t>(i)]; }
  int64_t total_tokens() const { return total_tokens_; }

 private:
  std::vector<std::string> text_;
  std::vector<std::vector<int64_t>> tokens_;
  int64_t total_tokens_ = 0;
};

struct NiahOptions {
  std::vector<int64_t> lengths = {256, 512, 1024};   // prompt tokens
  std::vector<double> depths = {0.0, 0.25, 0.5, 0.75, 1.0};
  int64_t trials = 10;                               // per (length, depth)
  int64_t value_digits = 6;
  std::string needle = "The special magic number for {key} is {value}.";
  std::string question = "What is the special magic number for {key}? The special magic number for {key} is";
  bool prepend_eod = true;   // the prompt starts with the end-of-document id, as a document does in training
  uint64_t seed = 0;
  ScoreOptions score;
};

// Throws oryx::Error naming a bad option.
void niah_check(const NiahOptions& o);

struct NiahExample {
  std::vector<int64_t> prompt;   // `length` tokens
  std::vector<int64_t> answer;   // encode(" " + value)
  std::string key, value;
  int64_t needle_at = 0;         // prompt offset of the needle's first token
  int64_t needle_tokens = 0;
  int64_t question_at = 0;       // prompt offset of the question ("\n\n" included)
  double depth = 0;              // achieved: haystack tokens before the needle / H
};

NiahExample niah_example(const NiahHaystack& hay, const Tokenizer& tok, const NiahOptions& o,
                         int64_t length, double depth, int64_t trial);

struct NiahRow {
  std::string schedule;
  int64_t length = 0;
  double depth = 0, depth_achieved = 0;   // requested; mean achieved
  int64_t trials = 0;
  double accuracy = 0;                    // trials whose whole answer is the argmax
  double token_accuracy = 0;              // answer tokens that are the argmax
  double answer_log_likelihood = 0;       // mean over trials, nats
  int64_t fed = 0, fed_a = 0;
  double attention_fraction() const { return fed ? static_cast<double>(fed_a) / fed : 0.0; }
  nlohmann::json to_json() const;
};

// One row per (length, depth), lengths outer.
std::vector<NiahRow> niah_eval(OryxModel& model, const Tokenizer& tok, const NiahHaystack& hay,
                               const NiahOptions& o, const Schedule& schedule);

}  // namespace oryx
