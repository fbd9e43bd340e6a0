#include "oryx/generate/stop.h"

#include <algorithm>

#include "oryx/common/error.h"

namespace oryx {

namespace {

// Where the earliest stop string starts in `text`, or npos.
size_t first_stop(const std::vector<std::string>& strings, const std::string& text) {
  size_t at = std::string::npos;
  for (const auto& s : strings) at = std::min(at, text.find(s));
  return at;
}

}  // namespace

const char* stop_reason_name(StopReason r) {
  switch (r) {
    case StopReason::EndOfDocument: return "end_of_document";
    case StopReason::StopString: return "stop_string";
    case StopReason::MaxNew: break;
  }
  return "max_new";
}

void stop_rule_check(const StopRule& rule, const std::string& where) {
  ORYX_CHECK(rule.strings.empty() || rule.tokenizer, where, "stop strings need a tokenizer (--tokenizer)");
  for (const auto& s : rule.strings) ORYX_CHECK(!s.empty(), where, "a stop string is empty");
}

std::optional<StopReason> stop_check(const StopRule& rule, const std::vector<int64_t>& generated) {
  if (!rule.tokenizer || generated.empty()) return std::nullopt;
  if (generated.back() == rule.tokenizer->eod_id()) return StopReason::EndOfDocument;
  if (!rule.strings.empty() && first_stop(rule.strings, rule.tokenizer->decode(generated)) != std::string::npos)
    return StopReason::StopString;
  return std::nullopt;
}

std::string stop_text(const StopRule& rule, const std::vector<int64_t>& generated) {
  if (!rule.tokenizer) return "";
  std::string text = rule.tokenizer->decode(generated);
  size_t at = first_stop(rule.strings, text);
  return at == std::string::npos ? text : text.substr(0, at);
}

}  // namespace oryx
