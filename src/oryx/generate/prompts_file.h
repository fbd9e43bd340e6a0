// The prompts file of `oryx generate --prompts FILE.jsonl`: one request per line, run in
// batches by generate_batch, answered with one JSON line per request in the file's order.
//
// Input line (blank lines are skipped; every other line is one JSON object):
//   {"prompt": "text"} or {"tokens": [ids]}   exactly one of the two; text needs a tokenizer
//   "schedule": "last:8,gen=A"                optional, the --schedule syntax
//   "max_new": 16                             optional, overrides --max-new
//   "stop": "\n" or ["\n", "###"]             optional, replaces the --stop strings
//   "seed": 7                                 optional, overrides --seed
//   "id": "q1"                                optional, any string or number, echoed
// Output line:
//   {"index": 0, "id": "q1", "prompt_length": 5, "tokens": [...], "text": "...",
//    "schedule": "last:8,gen=A", "modes": "LLLAA...", "stop_reason": "max_new"}
//   text only with a tokenizer; modes covers every fed position (prompt, then generated
//   tokens fed back); stop_reason is max_new, end_of_document or stop_string.
// Every problem in the file is one oryx::Error naming FILE:LINE.
#pragma once
#include <nlohmann/json.hpp>

#include <functional>
#include <string>
#include <vector>

#include "oryx/generate/generate_batch.h"

namespace oryx {

// What a line takes when it does not say.
struct PromptsFileDefaults {
  std::string schedule;            // a --schedule spec; "" = the model kind's single mode
  int64_t max_new = 32;
  std::vector<std::string> stop;
  uint64_t seed = 0;
};

struct PromptLine {
  int64_t line = 0;                // 1-based line number in the file
  nlohmann::json id;               // null when the line has none
  GenerateRequest request;
};

// Reads and checks every line against the model `c` (ids in its vocabulary, schedule modes
// its kind allows, prompt plus max_new within max_seq_len). `tok` may be null (then lines
// need "tokens" and no "stop").
std::vector<PromptLine> prompts_file_read(const std::string& path, const ModelConfig& c, const Tokenizer* tok,
                                          const PromptsFileDefaults& defaults);

// The output line of the `index`-th request (keys in the order above).
nlohmann::ordered_json prompts_result_json(int64_t index, const PromptLine& p, const GeneratedSequence& g,
                                   bool with_text);

// Generates every line, up to `batch_size` requests per batch, and calls `emit` with each
// output line in the file's order (after each batch).
void prompts_file_generate(OryxModel& model, const std::vector<PromptLine>& lines, int64_t batch_size,
                           const BatchGenerateOptions& opts,
                           const std::function<void(const nlohmann::ordered_json&)>& emit);

}  // namespace oryx
