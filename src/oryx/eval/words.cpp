#include "oryx/eval/words.h"

#include <array>

#include "oryx/common/error.h"

namespace oryx {

namespace {

constexpr std::array<const char*, 16> kOnsets = {"b", "d", "f", "g", "k", "l", "m", "n",
                                                 "p", "r", "s", "t", "v", "z", "sh", "ch"};
constexpr std::array<const char*, 5> kVowels = {"a", "e", "i", "o", "u"};

bool contains(const std::string& s, const char* what) { return s.find(what) != std::string::npos; }

}  // namespace

std::string eval_made_up_word(EvalRng& rng, int64_t min_syllables, int64_t max_syllables) {
  const auto n = min_syllables + static_cast<int64_t>(rng.below(static_cast<uint64_t>(max_syllables - min_syllables + 1)));
  std::string w;
  for (int64_t i = 0; i < n; ++i) {
    w += kOnsets[rng.below(kOnsets.size())];
    w += kVowels[rng.below(kVowels.size())];
  }
  if (rng.below(2)) w += kOnsets[rng.below(kOnsets.size())][0];
  return w;
}

std::string eval_digits(EvalRng& rng, int64_t digits) {
  std::string s(1, static_cast<char>('1' + rng.below(9)));
  for (int64_t i = 1; i < digits; ++i) s += static_cast<char>('0' + rng.below(10));
  return s;
}

std::string eval_fill(const std::string& text, const std::string& key, const std::string& value) {
  std::string out;
  for (size_t i = 0; i < text.size();) {
    if (text.compare(i, 5, "{key}") == 0) {
      out += key;
      i += 5;
    } else if (text.compare(i, 7, "{value}") == 0) {
      out += value;
      i += 7;
    } else {
      out += text[i++];
    }
  }
  return out;
}

void eval_check_template(const std::string& name, const std::string& text, bool need_key,
                         bool need_value, bool forbid_value) {
  ORYX_CHECK(!need_key || contains(text, "{key}"), name, " '", text, "' must contain {key}");
  ORYX_CHECK(!need_value || contains(text, "{value}"), name, " '", text, "' must contain {value}");
  ORYX_CHECK(!forbid_value || !contains(text, "{value}"), name, " '", text,
             "' must not contain {value}: it would give the answer away");
}

}  // namespace oryx
