#include "oryx/schedule/schedule.h"

#include <cctype>
#include <fstream>
#include <sstream>

#include "oryx/common/error.h"

namespace oryx {

namespace {

int64_t parse_count(const std::string& s, const std::string& spec, const char* what) {
  size_t used = 0;
  long long v = -1;
  try {
    v = std::stoll(s, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  ORYX_CHECK(used == s.size() && !s.empty() && v >= 0, "schedule '", spec, "': ", what,
             " must be a non-negative integer, got '", s, "'");
  return v;
}

std::vector<bool> parse_mask_letters(const std::string& letters, const std::string& spec) {
  std::vector<bool> mask;
  for (char ch : letters) {
    if (std::isspace(static_cast<unsigned char>(ch))) continue;
    ORYX_CHECK(ch == 'A' || ch == 'L', "schedule '", spec.substr(0, 40),
               "': a mask holds only the letters A and L, got '", ch, "'");
    mask.push_back(ch == 'A');
  }
  ORYX_CHECK(!mask.empty(), "schedule '", spec, "': empty mask");
  return mask;
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> parts;
  std::stringstream ss(s);
  std::string part;
  while (std::getline(ss, part, sep)) parts.push_back(part);
  if (!s.empty() && s.back() == sep) parts.push_back("");
  return parts;
}

bool rule_mode(const Schedule& s, int64_t pos, int64_t prompt_len) {
  switch (s.kind) {
    case ScheduleKind::AllA: return true;
    case ScheduleKind::AllL: return false;
    case ScheduleKind::EveryNthChunk: return (pos / s.chunk + 1) % s.n == 0;
    case ScheduleKind::FirstN: return pos < s.n;
    case ScheduleKind::LastN: return pos >= prompt_len - s.n;
    case ScheduleKind::Mask: return s.mask.at(static_cast<size_t>(pos));
  }
  return false;
}

}  // namespace

Schedule schedule_parse(const std::string& spec) {
  Schedule s;
  std::string body = spec;
  bool gen_given = false;
  if (auto comma = spec.find(",gen="); comma != std::string::npos) {
    body = spec.substr(0, comma);
    std::string g = spec.substr(comma + 5);
    gen_given = true;
    if (g == "A") s.gen = GenPolicy::A;
    else if (g == "L") s.gen = GenPolicy::L;
    else if (g == "schedule") s.gen = GenPolicy::Schedule;
    else if (g == "last") s.gen = GenPolicy::Last;
    else ORYX_FAIL("schedule '", spec, "': gen must be A, L, schedule or last, got '", g, "'");
  }
  auto parts = split(body, ':');
  const std::string& head = parts.empty() ? body : parts[0];
  auto want_args = [&](size_t lo, size_t hi) {
    ORYX_CHECK(parts.size() >= lo + 1 && parts.size() <= hi + 1, "schedule '", spec,
               "': wrong number of ':' fields for '", head, "'");
  };
  if (head == "all-A") {
    want_args(0, 0);
    s.kind = ScheduleKind::AllA;
  } else if (head == "all-L") {
    want_args(0, 0);
    s.kind = ScheduleKind::AllL;
  } else if (head == "every") {
    want_args(1, 2);
    s.kind = ScheduleKind::EveryNthChunk;
    s.n = parse_count(parts[1], spec, "N");
    if (parts.size() == 3) s.chunk = parse_count(parts[2], spec, "chunk");
    ORYX_CHECK(s.n >= 1 && s.chunk >= 1, "schedule '", spec, "': N and chunk must be at least 1");
  } else if (head == "first" || head == "last") {
    want_args(1, 1);
    s.kind = head == "first" ? ScheduleKind::FirstN : ScheduleKind::LastN;
    s.n = parse_count(parts[1], spec, "N");
  } else if (head == "mask") {
    ORYX_CHECK(parts.size() == 2, "schedule '", spec, "': expected mask:LETTERS");
    s.kind = ScheduleKind::Mask;
    s.mask = parse_mask_letters(parts[1], spec);
    if (!gen_given) s.gen = GenPolicy::Last;
  } else if (head == "mask-file") {
    std::string path = body.substr(std::string("mask-file:").size());
    std::ifstream in(path);
    ORYX_CHECK(in.good(), "schedule '", spec, "': cannot read mask file '", path, "'");
    std::stringstream ss;
    ss << in.rdbuf();
    s.kind = ScheduleKind::Mask;
    s.mask = parse_mask_letters(ss.str(), spec);
    if (!gen_given) s.gen = GenPolicy::Last;
  } else {
    ORYX_FAIL("unknown schedule '", spec,
              "' (expected all-A, all-L, every:N[:C], first:N, last:N, mask:..., mask-file:PATH)");
  }
  return s;
}

torch::Tensor Schedule::prompt_modes(int64_t T) const {
  if (kind == ScheduleKind::Mask)
    ORYX_CHECK(static_cast<int64_t>(mask.size()) == T, "schedule mask has ", mask.size(),
               " letters but the prompt has ", T, " tokens");
  auto m = torch::empty({T}, torch::kBool);
  auto* p = m.data_ptr<bool>();
  for (int64_t t = 0; t < T; ++t) p[t] = rule_mode(*this, t, T);
  return m;
}

bool Schedule::generated_mode(int64_t pos, int64_t prompt_len) const {
  switch (gen) {
    case GenPolicy::A: return true;
    case GenPolicy::L: return false;
    case GenPolicy::Last: return prompt_len > 0 && rule_mode(*this, prompt_len - 1, prompt_len);
    case GenPolicy::Schedule:
      if (kind == ScheduleKind::LastN) return true;
      if (kind == ScheduleKind::Mask) return prompt_len > 0 && mask.at(prompt_len - 1);
      return rule_mode(*this, pos, prompt_len);
  }
  return false;
}

std::string Schedule::describe() const {
  std::string s;
  switch (kind) {
    case ScheduleKind::AllA: s = "all-A"; break;
    case ScheduleKind::AllL: s = "all-L"; break;
    case ScheduleKind::EveryNthChunk: s = "every:" + std::to_string(n) + ":" + std::to_string(chunk); break;
    case ScheduleKind::FirstN: s = "first:" + std::to_string(n); break;
    case ScheduleKind::LastN: s = "last:" + std::to_string(n); break;
    case ScheduleKind::Mask:
      s = "mask:";
      for (bool a : mask) s += a ? 'A' : 'L';
      break;
  }
  const char* g = gen == GenPolicy::A ? "A" : gen == GenPolicy::L ? "L"
                  : gen == GenPolicy::Schedule ? "schedule" : "last";
  return s + ",gen=" + g;
}

double attention_fraction(const torch::Tensor& modes) {
  if (modes.numel() == 0) return 0.0;
  return modes.to(torch::kFloat64).mean().item<double>();
}

}  // namespace oryx
