#include "oryx/train/metrics.h"

#include <filesystem>

#include "oryx/common/atomic_file.h"
#include "oryx/common/error.h"

namespace oryx {

std::vector<nlohmann::json> metrics_read(const std::string& path) {
  std::ifstream in(path);
  ORYX_CHECK(in.good(), "cannot open metrics file '", path, "'");
  std::vector<nlohmann::json> records;
  std::string line;
  for (int64_t n = 1; std::getline(in, line); ++n) {
    if (line.empty()) continue;
    try {
      records.push_back(nlohmann::json::parse(line));
    } catch (const nlohmann::json::parse_error&) {
      ORYX_FAIL(path, ":", n, ": not a JSON record");
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
