#include "oryx/cli/int_list.h"

#include <sstream>

#include "oryx/common/error.h"

namespace oryx::cli {

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> parts;
  if (s.empty()) return parts;
  std::stringstream ss(s + sep);
  std::string part;
  while (std::getline(ss, part, sep)) parts.push_back(part);
  return parts;
}

std::vector<int64_t> parse_int_list(const std::string& flag, const std::string& s) {
  std::vector<int64_t> values;
  for (const auto& part : split(s, ',')) {
    size_t used = 0;
    long long v = 0;
    try {
      v = std::stoll(part, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    ORYX_CHECK(used == part.size() && !part.empty(), flag, ": '", part,
               "' is not an integer (expected a comma-separated list, e.g. 1,16,64)");
    values.push_back(v);
  }
  return values;
}

}  // namespace oryx::cli
