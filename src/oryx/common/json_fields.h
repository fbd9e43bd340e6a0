// Typed, validated reads from a JSON object, shared by every config parser (model, train
// run, eval, study plan). Each read records its key; reject_unknown() then refuses any key
// nobody asked for, so a typo in a config is an error instead of a silently ignored option.
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <initializer_list>
#include <set>
#include <string>

namespace oryx {

class JsonFields {
 public:
  // `where` names the source (a file path) in every message.
  JsonFields(const nlohmann::json& j, std::string where);

  bool has(const std::string& key) const;
  std::string str(const std::string& key, const std::string& fallback);
  std::string choice(const std::string& key, std::initializer_list<const char*> allowed,
                     const std::string& fallback);
  bool boolean(const std::string& key, bool fallback);
  int64_t integer(const std::string& key, int64_t fallback);
  int64_t positive_int(const std::string& key);  // required
  int64_t positive_int(const std::string& key, int64_t fallback);
  int64_t nonnegative_int(const std::string& key, int64_t fallback);
  double number(const std::string& key, double fallback);
  double positive_number(const std::string& key, double fallback);
  double positive_number(const std::string& key);  // required
  double fraction(const std::string& key, double fallback);  // in [0, 1]
  // Bounded reads: every size and count a file can set has an upper bound, so that a typo
  // fails here, naming the key, instead of exhausting memory or looping for hours later.
  int64_t int_in(const std::string& key, int64_t lo, int64_t hi);  // required
  int64_t int_in(const std::string& key, int64_t fallback, int64_t lo, int64_t hi);
  double number_in(const std::string& key, double fallback, double lo, double hi);
  double positive_number(const std::string& key, double fallback, double max);  // in (0, max]
  // The raw value (for nested objects and arrays); marks the key as known.
  const nlohmann::json& raw(const std::string& key);

  void reject_unknown() const;
  const std::string& where() const { return where_; }

 private:
  const nlohmann::json* find(const std::string& key);
  [[noreturn]] void fail(const std::string& key, const std::string& what) const;

  const nlohmann::json& j_;
  std::string where_;
  std::set<std::string> known_;
};

}  // namespace oryx
