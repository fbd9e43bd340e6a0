// Text pieces of the retrieval tasks that use words (NIAH, KV): made-up keys, values and
// the templates that phrase them. Keys are pronounceable non-words ("zekamo") so that a real
// haystack almost never contains them, and a template is plain text with {key} and {value}
// holes, so every phrasing is an option rather than a constant.
#pragma once
#include <cstdint>
#include <string>

#include "oryx/eval/rng.h"

namespace oryx {

// A made-up word of min..max consonant-vowel syllables, sometimes closed by a consonant.
std::string eval_made_up_word(EvalRng& rng, int64_t min_syllables, int64_t max_syllables);

// A decimal number of exactly `digits` digits (no leading zero).
std::string eval_digits(EvalRng& rng, int64_t digits);

// `text` with every {key} and {value} replaced.
std::string eval_fill(const std::string& text, const std::string& key, const std::string& value);

// Throws oryx::Error unless `text` (the option `name`) holds {key} when `need_key`, holds
// {value} when `need_value`, and holds no {value} when `forbid_value` (a question must not
// carry its answer).
void eval_check_template(const std::string& name, const std::string& text, bool need_key,
                         bool need_value, bool forbid_value);

}  // namespace oryx
