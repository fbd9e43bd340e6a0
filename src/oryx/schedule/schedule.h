// Mode schedules (SPEC section 2): which positions of a sequence use mode A (attention) and
// which mode L (linear recurrence). The same schedule applies to every layer.
//
// Inference schedules, as written on the command line (`--schedule`):
//   all-A            every token attends
//   all-L            every token uses the recurrence
//   every:N[:C]      chunks of C tokens (default 64) by absolute position; chunk c is in mode A
//                    when (c + 1) % N == 0, i.e. every N-th chunk
//   first:N          the first N tokens are A
//   last:N           the last N prompt tokens are A (for example the question after a long
//                    document)
//   mask:AALLA...    one letter per prompt token
//   mask-file:PATH   the same letters read from a file (whitespace ignored)
// followed optionally by ",gen=A|L|schedule|last": the mode of generated tokens. `schedule`
// continues the rule at the generated positions (all-A, all-L, every and first; last:N
// counts generated tokens as the end of the sequence, so they are A), `last` repeats the
// last prompt token's mode. Default: `schedule`, except `last` for masks.
#pragma once
#include <torch/types.h>

#include <string>
#include <vector>

namespace oryx {

enum class ScheduleKind { AllA, AllL, EveryNthChunk, FirstN, LastN, Mask };
enum class GenPolicy { A, L, Schedule, Last };

struct Schedule {
  ScheduleKind kind = ScheduleKind::AllA;
  int64_t n = 0;            // every: N; first/last: N tokens
  int64_t chunk = 64;       // every: chunk length
  std::vector<bool> mask;   // mask: true = A, one per prompt token
  GenPolicy gen = GenPolicy::Schedule;

  // Modes of prompt positions 0..T-1: [T] bool on the CPU, true = A.
  torch::Tensor prompt_modes(int64_t T) const;
  // Mode of a generated token at absolute position `pos` after a prompt of `prompt_len`
  // tokens (pos >= prompt_len).
  bool generated_mode(int64_t pos, int64_t prompt_len) const;
  // The schedule written back in the command-line syntax.
  std::string describe() const;
};

// Parses the syntax above; throws oryx::Error naming the problem.
Schedule schedule_parse(const std::string& spec);

// Tokens in mode A over all tokens of a mask.
double attention_fraction(const torch::Tensor& modes);

}  // namespace oryx
