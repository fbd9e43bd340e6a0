// UTF-8 checks shared by the corpus readers (which skip invalid documents) and the byte
// tokenizer (whose decode must never hand invalid text to a terminal or a JSON writer).
// "Valid" is RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

namespace oryx {

// True if `s` is valid UTF-8. On failure, `*bad_offset` (if given) is the byte offset of
// the first byte of the first invalid sequence.
bool utf8_valid(std::string_view s, size_t* bad_offset = nullptr);

// `s` with every maximal invalid subsequence replaced by U+FFFD (the W3C/Unicode
// "substitution of maximal subparts" practice), so valid input comes back unchanged.
std::string utf8_sanitize(std::string_view s);

}  // namespace oryx
