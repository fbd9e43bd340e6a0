// Errors. Everything a user can get wrong (configs, options, token ids, files) raises
// oryx::Error with one line that says what and where; the CLI prints it and exits 2.
// Internal invariants use TORCH_INTERNAL_ASSERT instead.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

namespace oryx {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace detail {
template <typename... Args>
std::string concat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}
}  // namespace detail

}  // namespace oryx

// ORYX_CHECK(cond, "what", value, "where"): throws oryx::Error with the pieces concatenated.
#define ORYX_CHECK(cond, ...)                                       \
  do {                                                              \
    if (!(cond)) throw ::oryx::Error(::oryx::detail::concat(__VA_ARGS__)); \
  } while (0)

#define ORYX_FAIL(...) throw ::oryx::Error(::oryx::detail::concat(__VA_ARGS__))
