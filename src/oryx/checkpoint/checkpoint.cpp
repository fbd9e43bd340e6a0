#include "oryx/checkpoint/checkpoint.h"

#include <filesystem>
#include <fstream>

#include "oryx/checkpoint/safetensors.h"
#include "oryx/checkpoint/weights.h"
#include "oryx/common/atomic_file.h"
#include "oryx/common/error.h"
#include "oryx/data/tokenizer.h"

namespace fs = std::filesystem;

namespace oryx {

CheckpointFiles checkpoint_files(const std::string& dir) {
  CheckpointFiles f;
  f.dir = atomic_resolve_dir(dir);
  ORYX_CHECK(fs::is_directory(f.dir), "checkpoint '", dir, "' is not a folder");
  f.config = (fs::path(f.dir) / "config.json").string();
  f.weights = (fs::path(f.dir) / "model.safetensors").string();
  ORYX_CHECK(fs::exists(f.config), "checkpoint '", dir, "': missing config.json");
  ORYX_CHECK(fs::exists(f.weights), "checkpoint '", dir, "': missing model.safetensors");
  auto tok = fs::path(f.dir) / "tokenizer.txt";
  if (fs::exists(tok)) {
    std::ifstream in(tok);
    std::string spec, recorded_id;
    std::getline(in, spec);
    std::getline(in, recorded_id);
    ORYX_CHECK(!spec.empty(), "checkpoint '", dir, "': empty tokenizer.txt");
    f.tokenizer = spec == "byte" ? spec : (fs::path(f.dir) / spec).string();
    ORYX_CHECK(spec == "byte" || fs::is_regular_file(f.tokenizer), "checkpoint '", dir,
               "': tokenizer.txt names ", spec, ", which is missing");
    f.tokenizer_id = tokenizer_identity(f.tokenizer);
    ORYX_CHECK(recorded_id.empty() || recorded_id == f.tokenizer_id, "checkpoint '", dir, "': ", f.tokenizer,
               " is ", f.tokenizer_id, ", not the ", recorded_id, " recorded in tokenizer.txt");
  }
  return f;
}

ModelConfig checkpoint_config(const std::string& dir) {
  auto f = checkpoint_files(dir);
  ModelConfig c = config_load(f.config);
  c.weights = f.weights;
  return c;
}

}  // namespace oryx

namespace oryx {

void checkpoint_save(const std::string& dir, const ModelConfig& config, const torch::nn::Module& model,
                     const std::string& tokenizer, const TrainingState* training) {
  fs::path final_dir(dir);
  if (final_dir.has_parent_path()) fs::create_directories(final_dir.parent_path());
  const ScopedTmpDir scratch(dir);
  const fs::path tmp = scratch.path();
  ModelConfig c = config;
  c.weights = "model.safetensors";
  atomic_write_text((tmp / "config.json").string(), config_to_json(c).dump(2) + "\n");
  weights_save(model, (tmp / "model.safetensors").string());
  if (tokenizer == "byte") {
    atomic_write_text((tmp / "tokenizer.txt").string(), "byte\nbyte\n");
  } else if (!tokenizer.empty()) {
    fs::copy_file(tokenizer, tmp / "tokenizer.model", fs::copy_options::overwrite_existing);
    atomic_write_text((tmp / "tokenizer.txt").string(),
                      "tokenizer.model\n" + tokenizer_identity((tmp / "tokenizer.model").string()) + "\n");
  }
  if (training) {
    safetensors_write((tmp / "optimizer.safetensors").string(), training->optimizer);
    atomic_write_text((tmp / "trainer.json").string(), training->trainer.dump(2) + "\n");
  }
  atomic_replace_dir(tmp.string(), final_dir.string());
}

TrainingState checkpoint_load_training(const std::string& dir) {
  auto files = checkpoint_files(dir);
  fs::path d(files.dir);
  ORYX_CHECK(fs::exists(d / "trainer.json") && fs::exists(d / "optimizer.safetensors"), "checkpoint '",
             dir, "' holds a model only (no trainer.json / optimizer.safetensors): cannot resume from it");
  TrainingState t;
  std::ifstream in(d / "trainer.json");
  try {
    t.trainer = nlohmann::json::parse(in);
  } catch (const nlohmann::json::parse_error& e) {
    ORYX_FAIL((d / "trainer.json").string(), ": malformed JSON: ", e.what());
  }
  t.optimizer = safetensors_read((d / "optimizer.safetensors").string()).tensors;
  return t;
}

int64_t checkpoint_training_seq_len(const std::string& dir) {
  const fs::path trainer = fs::path(checkpoint_files(dir).dir) / "trainer.json";
  std::ifstream in(trainer);
  if (!in) return 0;
  const auto j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || !j.contains("options") || !j["options"].is_object()) return 0;
  const auto& seq_len = j["options"].value("seq_len", nlohmann::json());
  return seq_len.is_number_integer() && seq_len.get<int64_t>() > 0 ? seq_len.get<int64_t>() : 0;
}

}  // namespace oryx
