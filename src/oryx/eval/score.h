// Teacher-forced scoring of token sequences under a mode schedule, shared by the retrieval
// tasks (MQAR, NIAH, KV) and multiple-choice scoring.
//
// A sequence is fed whole; at the positions that carry a target, the scorer reads the
// log-probability of the target and whether it is the argmax. For a prompt followed by an
// answer, feeding prompt + answer[0..n-1) and targeting answer[0..n) makes "every target is
// the argmax" exactly the event that greedy decoding would have produced the answer, at the
// cost of one forward pass instead of n decoding steps.
//
// Modes: positions before `prompt_len` take schedule.prompt_modes(prompt_len); later
// positions (an answer, fed as if generated) take schedule.generated_mode, as `oryx generate`
// would give them. Every sequence counts its own fed positions and those in mode A, so any
// aggregate can state the attention fraction it was obtained with.
//
// Sequences of different lengths share a batch by right-padding: every mixer is causal, so
// padding after a sequence never changes its outputs. A padded position repeats the row's
// last mode (single-mode models accept no other) and is not counted as fed.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "oryx/model/model.h"
#include "oryx/schedule/schedule.h"

namespace oryx {

struct ScoredSequence {
  std::vector<int64_t> tokens;   // the ids fed
  std::vector<int64_t> targets;  // same length: the id expected next, or kIgnoreIndex
  int64_t prompt_len = 0;        // positions [0, prompt_len) are the prompt (<= tokens.size())
  std::vector<bool> modes{};     // when not empty: each position's mode (true = A), in place
                                 // of the schedule's; for content-placed attention
};

struct SequenceScore {
  int64_t targets = 0;         // positions scored
  int64_t correct = 0;         // ... whose target is the argmax
  double log_likelihood = 0;   // sum of log p(target), nats
  int64_t fed = 0;             // positions fed
  int64_t fed_a = 0;           // ... in mode A
  bool exact() const { return targets > 0 && correct == targets; }
};

struct ScoreOptions {
  int64_t batch = 8;             // sequences per forward pass
  int64_t vocab_limit = 0;       // the argmax ranges over ids < this (0: the whole vocabulary)
  std::string progress_label;    // empty: no progress bar
};

// The schedule as result rows name it: Schedule::describe() without the generation policy
// when that is the kind's default (",gen=schedule", or ",gen=last" for masks), so rows say
// "last:64" as the user wrote it, and "all-A,gen=L" only when the policy was chosen.
std::string eval_schedule_name(const Schedule& schedule);

// Modes [T] bool (true = A) of a sequence of `length` positions whose first `prompt_len` are
// the prompt.
torch::Tensor sequence_modes(const Schedule& schedule, int64_t length, int64_t prompt_len);

// One score per sequence, in input order. Throws oryx::Error if a sequence is empty, longer
// than the model's max_seq_len, or its targets do not match its tokens.
std::vector<SequenceScore> score_sequences(OryxModel& model, const std::vector<ScoredSequence>& seqs,
                                           const Schedule& schedule, const ScoreOptions& opts);

}  // namespace oryx
