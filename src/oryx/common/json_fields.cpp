#include "oryx/common/json_fields.h"

#include <sstream>

#include "oryx/common/error.h"

namespace oryx {

JsonFields::JsonFields(const nlohmann::json& j, std::string where) : j_(j), where_(std::move(where)) {
  ORYX_CHECK(j.is_object(), where_, ": expected a JSON object, got ", j.type_name());
}

bool JsonFields::has(const std::string& key) const { return j_.contains(key); }

const nlohmann::json* JsonFields::find(const std::string& key) {
  known_.insert(key);
  auto it = j_.find(key);
  return it == j_.end() ? nullptr : &*it;
}

void JsonFields::fail(const std::string& key, const std::string& what) const {
  auto it = j_.find(key);
  std::string got = it == j_.end() ? "nothing" : it->dump();
  ORYX_FAIL(where_, ": key '", key, "' ", what, ", got ", got);
}

std::string JsonFields::str(const std::string& key, const std::string& fallback) {
  const auto* v = find(key);
  if (!v) return fallback;
  if (!v->is_string()) fail(key, "must be a string");
  return v->get<std::string>();
}

std::string JsonFields::choice(const std::string& key, std::initializer_list<const char*> allowed,
                               const std::string& fallback) {
  std::string s = str(key, fallback);
  for (const char* a : allowed)
    if (s == a) return s;
  std::string list;
  for (const char* a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
  fail(key, "must be one of " + list);
}

bool JsonFields::boolean(const std::string& key, bool fallback) {
  const auto* v = find(key);
  if (!v) return fallback;
  if (!v->is_boolean()) fail(key, "must be true or false");
  return v->get<bool>();
}

int64_t JsonFields::integer(const std::string& key, int64_t fallback) {
  const auto* v = find(key);
  if (!v) return fallback;
  if (!v->is_number_integer()) fail(key, "must be an integer");
  if (v->is_number_unsigned() && v->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX))
    fail(key, "is out of range");
  return v->get<int64_t>();
}

int64_t JsonFields::positive_int(const std::string& key) {
  if (!has(key)) fail(key, "is required (a positive integer)");
  return positive_int(key, 0);
}

int64_t JsonFields::positive_int(const std::string& key, int64_t fallback) {
  int64_t x = integer(key, fallback);
  if (x <= 0) fail(key, "must be a positive integer");
  return x;
}

int64_t JsonFields::nonnegative_int(const std::string& key, int64_t fallback) {
  int64_t x = integer(key, fallback);
  if (x < 0) fail(key, "must be a non-negative integer");
  return x;
}

double JsonFields::number(const std::string& key, double fallback) {
  const auto* v = find(key);
  if (!v) return fallback;
  if (!v->is_number()) fail(key, "must be a number");
  double x = v->get<double>();
  if (!std::isfinite(x)) fail(key, "must be finite");
  return x;
}

double JsonFields::positive_number(const std::string& key, double fallback) {
  double x = number(key, fallback);
  if (!(x > 0)) fail(key, "must be a positive number");
  return x;
}

double JsonFields::positive_number(const std::string& key) {
  if (!has(key)) fail(key, "is required (a positive number)");
  return positive_number(key, 0);
}

double JsonFields::fraction(const std::string& key, double fallback) {
  double x = number(key, fallback);
  if (x < 0 || x > 1) fail(key, "must be in [0, 1]");
  return x;
}

int64_t JsonFields::int_in(const std::string& key, int64_t lo, int64_t hi) {
  if (!has(key)) fail(key, "is required (an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "])");
  return int_in(key, lo, lo, hi);
}

int64_t JsonFields::int_in(const std::string& key, int64_t fallback, int64_t lo, int64_t hi) {
  int64_t x = integer(key, fallback);
  if (x < lo || x > hi) fail(key, "must be an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  return x;
}

namespace {
std::string number_text(double x) {
  std::ostringstream os;
  os << x;
  return os.str();
}
}  // namespace

double JsonFields::number_in(const std::string& key, double fallback, double lo, double hi) {
  double x = number(key, fallback);
  if (x < lo || x > hi) fail(key, "must be a number in [" + number_text(lo) + ", " + number_text(hi) + "]");
  return x;
}

double JsonFields::positive_number(const std::string& key, double fallback, double max) {
  double x = number(key, fallback);
  if (!(x > 0) || x > max) fail(key, "must be a number in (0, " + number_text(max) + "]");
  return x;
}

const nlohmann::json& JsonFields::raw(const std::string& key) {
  const auto* v = find(key);
  if (!v) fail(key, "is required");
  return *v;
}

void JsonFields::reject_unknown() const {
  for (auto it = j_.begin(); it != j_.end(); ++it)
    if (!known_.count(it.key()))
      ORYX_FAIL(where_, ": unknown key '", it.key(), "'");
}

}  // namespace oryx
