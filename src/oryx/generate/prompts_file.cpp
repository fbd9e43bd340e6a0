#include "oryx/generate/prompts_file.h"

#include <fstream>
#include <limits>
#include <set>
#include <sstream>

#include "oryx/common/error.h"
#include "oryx/common/json_parse.h"

namespace oryx {

namespace {

using nlohmann::json;

const std::set<std::string> kKeys = {"prompt", "tokens", "schedule", "max_new", "stop", "seed", "id"};

// A non-negative JSON integer at most `hi`; `what` names it in the message.
int64_t json_count(const json& v, const char* what, int64_t hi) {
  ORYX_CHECK(v.is_number_integer(), what, " must be an integer, got ", v.dump());
  if (v.is_number_unsigned()) {
    auto u = v.get<uint64_t>();
    ORYX_CHECK(u <= static_cast<uint64_t>(hi), what, " ", u, " is out of range [0, ", hi, "]");
    return static_cast<int64_t>(u);
  }
  auto n = v.get<int64_t>();
  ORYX_CHECK(n >= 0 && n <= hi, what, " ", n, " is out of range [0, ", hi, "]");
  return n;
}

std::vector<int64_t> json_ids(const json& v, int64_t vocab_size) {
  ORYX_CHECK(v.is_array() && !v.empty(), "\"tokens\" must be a non-empty array of ids");
  std::vector<int64_t> ids;
  for (const auto& x : v) {
    ORYX_CHECK(x.is_number_integer(), "\"tokens\" holds ", x.dump(), ", not an integer id");
    ORYX_CHECK(!(x.is_number_unsigned() ? x.get<uint64_t>() >= static_cast<uint64_t>(vocab_size)
                                        : x.get<int64_t>() < 0 || x.get<int64_t>() >= vocab_size),
               "token id ", x.dump(), " is out of range for vocab_size ", vocab_size);
    ids.push_back(x.get<int64_t>());
  }
  return ids;
}

std::vector<std::string> json_stop(const json& v) {
  std::vector<std::string> out;
  if (v.is_string()) {
    out.push_back(v.get<std::string>());
  } else {
    ORYX_CHECK(v.is_array(), "\"stop\" must be a string or an array of strings");
    for (const auto& s : v) {
      ORYX_CHECK(s.is_string(), "\"stop\" holds ", s.dump(), ", not a string");
      out.push_back(s.get<std::string>());
    }
  }
  return out;
}

// Refuses a schedule that puts any position the request feeds in a mode the model lacks.
void check_schedule_fits(const Schedule& s, int64_t P, int64_t max_new, const ModelConfig& c) {
  if (c.kind == ModelKind::Oryx) return;
  const bool want_a = c.kind == ModelKind::Transformer;
  auto modes = s.prompt_modes(P);
  bool fits = want_a ? modes.all().item<bool>() : !modes.any().item<bool>();
  for (int64_t pos = P; fits && pos < generate_positions_needed(P, max_new); ++pos)
    fits = s.generated_mode(pos, P) == want_a;
  ORYX_CHECK(fits, "schedule '", s.describe(), "' puts a token in mode ", want_a ? "L" : "A", ", but model '",
             c.name, "' is ", want_a ? "a transformer (mode A only)" : "a linear model (mode L only)");
}

PromptLine parse_line(const json& j, const ModelConfig& c, const Tokenizer* tok, const PromptsFileDefaults& d) {
  ORYX_CHECK(j.is_object(), "expected a JSON object, got ", j.type_name());
  for (const auto& [key, value] : j.items())
    ORYX_CHECK(kKeys.count(key), "unknown key '", key, "' (expected prompt or tokens, and optionally schedule, ",
               "max_new, stop, seed, id)");
  ORYX_CHECK(j.contains("prompt") != j.contains("tokens"), "give exactly one of \"prompt\" and \"tokens\"");
  PromptLine p;
  auto& r = p.request;
  if (j.contains("prompt")) {
    ORYX_CHECK(j["prompt"].is_string(), "\"prompt\" must be a string");
    ORYX_CHECK(tok, "\"prompt\" needs a tokenizer (--tokenizer byte|FILE.model), or give \"tokens\"");
    r.prompt = tok->encode(j["prompt"].get<std::string>());
    ORYX_CHECK(!r.prompt.empty(), "\"prompt\" encodes to no tokens");
  } else {
    r.prompt = json_ids(j["tokens"], c.vocab_size);
  }
  std::string spec = d.schedule;
  if (j.contains("schedule")) {
    ORYX_CHECK(j["schedule"].is_string(), "\"schedule\" must be a string");
    spec = j["schedule"].get<std::string>();
  }
  if (spec.empty()) spec = c.kind == ModelKind::Linear ? "all-L" : "all-A";
  r.schedule = schedule_parse(spec);
  r.max_new = j.contains("max_new") ? json_count(j["max_new"], "\"max_new\"", c.max_seq_len) : d.max_new;
  auto P = static_cast<int64_t>(r.prompt.size());
  ORYX_CHECK(generate_positions_needed(P, r.max_new) <= c.max_seq_len, "prompt (", P, " tokens) plus ", r.max_new,
             " new tokens exceed the model's max_seq_len of ", c.max_seq_len);
  check_schedule_fits(r.schedule, P, r.max_new, c);
  r.stop = j.contains("stop") ? json_stop(j["stop"]) : d.stop;
  stop_rule_check({tok, r.stop}, "");
  r.seed = j.contains("seed") ? static_cast<uint64_t>(json_count(j["seed"], "\"seed\"",
                                                                std::numeric_limits<int64_t>::max()))
                              : d.seed;
  if (j.contains("id")) {
    ORYX_CHECK(j["id"].is_string() || j["id"].is_number(), "\"id\" must be a string or a number");
    p.id = j["id"];
  }
  return p;
}

}  // namespace

std::vector<PromptLine> prompts_file_read(const std::string& path, const ModelConfig& c, const Tokenizer* tok,
                                          const PromptsFileDefaults& defaults) {
  check_readable_file(path, "prompts file");
  std::ifstream in(path);
  ORYX_CHECK(in.good(), "cannot open prompts file '", path, "'");
  std::vector<PromptLine> lines;
  std::string text;
  for (int64_t n = 1; std::getline(in, text); ++n) {
    if (!text.empty() && text.back() == '\r') text.pop_back();
    if (text.find_first_not_of(" \t") == std::string::npos) continue;
    const std::string where = path + ":" + std::to_string(n);
    std::istringstream line_in(text);
    json j = json_parse_strict(line_in, where);  // names `where` itself
    try {
      lines.push_back(parse_line(j, c, tok, defaults));
    } catch (const Error& e) {
      ORYX_FAIL(where, ": ", e.what());
    }
    lines.back().line = n;
  }
  ORYX_CHECK(!in.bad(), "prompts file '", path, "': read error");
  ORYX_CHECK(!lines.empty(), "prompts file '", path, "' holds no prompts");
  return lines;
}

nlohmann::ordered_json prompts_result_json(int64_t index, const PromptLine& p, const GeneratedSequence& g,
                                           bool with_text) {
  std::string modes;
  for (bool a : g.modes) modes += a ? 'A' : 'L';
  nlohmann::ordered_json j = {{"index", index}};
  if (!p.id.is_null()) j["id"] = p.id;
  j["prompt_length"] = p.request.prompt.size();
  j["tokens"] = g.tokens;
  if (with_text) j["text"] = g.text;
  j["schedule"] = p.request.schedule.describe();
  j["modes"] = modes;
  j["stop_reason"] = stop_reason_name(g.stop);
  return j;
}

void prompts_file_generate(OryxModel& model, const std::vector<PromptLine>& lines, int64_t batch_size,
                           const BatchGenerateOptions& opts,
                           const std::function<void(const nlohmann::ordered_json&)>& emit) {
  ORYX_CHECK(batch_size >= 1, "--batch-size must be at least 1, got ", batch_size);
  const auto n = static_cast<int64_t>(lines.size());
  for (int64_t first = 0; first < n; first += batch_size) {
    int64_t count = std::min(batch_size, n - first);
    std::vector<GenerateRequest> batch;
    for (int64_t i = first; i < first + count; ++i) batch.push_back(lines[static_cast<size_t>(i)].request);
    auto out = generate_batch(model, batch, opts);
    for (int64_t i = 0; i < count; ++i)
      emit(prompts_result_json(first + i, lines[static_cast<size_t>(first + i)], out[static_cast<size_t>(i)],
                               opts.tokenizer != nullptr));
  }
}

}  // namespace oryx
