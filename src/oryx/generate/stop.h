// When a generated sequence ends, shared by single-prompt and batched generation: at the
// tokenizer's end-of-document id, at the first occurrence of a stop string in the decoded
// text, or after its budget of new tokens.
//
// A stop string is looked for in the text of the generated tokens only (not the prompt), so
// a prompt that contains it does not end generation at once. The token that completes it is
// kept among the generated ids; the text is cut before the stop string.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "oryx/data/tokenizer.h"

namespace oryx {

enum class StopReason { MaxNew, EndOfDocument, StopString };

// "max_new", "end_of_document" or "stop_string", as the JSON output writes it.
const char* stop_reason_name(StopReason r);

struct StopRule {
  const Tokenizer* tokenizer = nullptr;  // decodes for stop strings; its eod_id() ends a sequence
  std::vector<std::string> strings;      // stop strings (each non-empty; need the tokenizer)
};

// Throws oryx::Error when the rule cannot be applied (stop strings without a tokenizer, an
// empty stop string); `where` prefixes the message.
void stop_rule_check(const StopRule& rule, const std::string& where);

// Whether a sequence whose generated ids so far are `generated` ends now (not counting its
// budget, which the caller knows).
std::optional<StopReason> stop_check(const StopRule& rule, const std::vector<int64_t>& generated);

// The decoded text of `generated`, cut before the first stop string; "" without a tokenizer.
std::string stop_text(const StopRule& rule, const std::vector<int64_t>& generated);

}  // namespace oryx
