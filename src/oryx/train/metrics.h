// Training metrics as JSON Lines: one object per record, flushed as written, so a crashed or
// running job's file is always readable (`oryx plot`, jq, pandas). Records carry "kind":
// "train" (step, tokens, lr, loss, grad_norm, tokens_per_s, attention_fraction) or "eval"
// (step, tokens, and per schedule the loss, perplexity and attention fraction).
#pragma once
#include <nlohmann/json.hpp>

#include <fstream>
#include <string>
#include <vector>

namespace oryx {

class MetricsWriter {
 public:
  // Appends to `path`. With keep_up_to_step >= 0, records of later steps are dropped first
  // (a resumed run replays them from its checkpoint, so the file stays one consistent curve).
  MetricsWriter(const std::string& path, int64_t keep_up_to_step = -1);
  void write(const nlohmann::json& record);

 private:
  std::ofstream out_;
};

// Every record of a metrics file; a malformed line is an error naming the file and line,
// except a malformed last line (a write cut short by a kill), which is dropped with a notice.
// A known field of the wrong type ("loss": "high") is an error naming the line too.
std::vector<nlohmann::json> metrics_read(const std::string& path);

}  // namespace oryx
