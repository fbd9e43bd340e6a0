// Comma-separated integers on the command line ("1,16,64", "--tokens 5,9,2").
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace oryx::cli {

// Splits at `sep`, keeping empty parts ("8,,9" -> "8", "", "9"); an empty string has no parts.
std::vector<std::string> split(const std::string& s, char sep);

// "1,16,64" -> {1, 16, 64}. Each part must be a whole integer: otherwise oryx::Error naming
// `flag` and the part. Signs are kept, so that the caller names a non-positive value.
std::vector<int64_t> parse_int_list(const std::string& flag, const std::string& s);

}  // namespace oryx::cli
