#include "oryx/train/metrics.h"

#include <cstdio>
#include <filesystem>

#include "oryx/common/atomic_file.h"
#include "oryx/common/error.h"

namespace oryx {

namespace {

// The fields readers use must have their types (a hand-edited or foreign file may not):
// a wrong type is the file's error, named with its line, not a crash of `oryx plot`.
// Numbers may be null: a NaN loss is written as null.
nlohmann::json metrics_record_checked(nlohmann::json r, const std::string& path, int64_t line) {
  auto where = [&] { return path + ":" + std::to_string(line); };
  ORYX_CHECK(r.is_object(), where(), ": a metrics record must be a JSON object, got ", r.type_name());
  auto number_or_null = [&](const nlohmann::json& obj, const char* key, const std::string& in) {
    auto it = obj.find(key);
    ORYX_CHECK(it == obj.end() || it->is_number() || it->is_null(), where(), ": key '", in, key,
               "' must be a number, got ", it->dump());
  };
  auto kind = r.find("kind");
  ORYX_CHECK(kind == r.end() || kind->is_string(), where(), ": key 'kind' must be a string, got ", kind->dump());
  if (kind != r.end() && (*kind == "train" || *kind == "eval")) {
    auto step = r.find("step");
    ORYX_CHECK(step != r.end() && step->is_number_integer(), where(), ": key 'step' must be an integer, got ",
               step == r.end() ? "nothing" : step->dump());
  }
  for (const char* key : {"tokens", "lr", "loss", "grad_norm", "tokens_per_s", "attention_fraction"})
    number_or_null(r, key, "");
  if (auto eval = r.find("eval"); eval != r.end()) {
    ORYX_CHECK(eval->is_object(), where(), ": key 'eval' must be an object of schedules, got ", eval->dump());
    for (const auto& [schedule, v] : eval->items()) {
      ORYX_CHECK(v.is_object(), where(), ": key 'eval.", schedule, "' must be an object, got ", v.dump());
      for (const char* key : {"loss", "perplexity", "attention_fraction"}) number_or_null(v, key, "eval." + schedule + ".");
    }
  }
  return r;
}

}  // namespace

std::vector<nlohmann::json> metrics_read(const std::string& path) {
  std::ifstream in(path);
  ORYX_CHECK(in.good(), "cannot open metrics file '", path, "'");
  std::vector<nlohmann::json> records;
  std::string line;
  for (int64_t n = 1; std::getline(in, line); ++n) {
    if (line.empty()) continue;
    try {
      records.push_back(metrics_record_checked(nlohmann::json::parse(line), path, n));
    } catch (const nlohmann::json::parse_error&) {
      // A process killed while writing leaves its last record cut short: that line alone is
      // dropped (a resumed run writes it again). Anywhere else, a bad line is corruption.
      std::string rest;
      while (std::getline(in, rest))
        ORYX_CHECK(rest.find_first_not_of(" \t\r") == std::string::npos, path, ":", n, ": not a JSON record");
      std::fprintf(stderr, "oryx: %s:%lld: ignoring a cut-short last record (an interrupted write)\n",
                   path.c_str(), static_cast<long long>(n));
    }
  }
  return records;
}

MetricsWriter::MetricsWriter(const std::string& path, int64_t keep_up_to_step) {
  if (keep_up_to_step >= 0 && std::filesystem::exists(path)) {
    std::string kept;
    for (const auto& r : metrics_read(path))
      if (r.value("step", int64_t{0}) <= keep_up_to_step) kept += r.dump() + "\n";
    atomic_write_text(path, kept);
  }
  out_.open(path, std::ios::app);
  ORYX_CHECK(out_.good(), "cannot write metrics file '", path, "'");
}

void MetricsWriter::write(const nlohmann::json& record) {
  out_ << record.dump() << "\n";
  out_.flush();
}

}  // namespace oryx
