#include "oryx/train/resume_options.h"

#include <filesystem>

#include "oryx/common/error.h"

namespace fs = std::filesystem;

namespace oryx {

namespace {

const char* const kRefused[] = {"data",       "seed",       "batch_size",   "seq_len",         "grad_accum",
                                "mqar_vocab", "mqar_pairs", "mqar_power_a", "mqar_zero_filler"};
const char* const kNoticed[] = {"tokens",         "lr",          "min_lr_ratio", "warmup_tokens",
                                "beta1",          "beta2",       "eps",          "weight_decay",
                                "decay_embeddings", "grad_clip", "schedule_chunk", "p_all_a",
                                "p_all_l",        "precision"};

std::string flag_name(const std::string& key) {
  std::string f = "--" + key;
  for (auto& c : f)
    if (c == '_') c = '-';
  return f;
}

// One dataset folder can be named in several ways ("data/x", "./data/x/", an absolute path).
bool same_data(const std::string& a, const std::string& b) {
  if (a == b) return true;
  if (a == "mqar" || b == "mqar") return false;
  std::error_code ec;
  if (fs::equivalent(a, b, ec)) return true;
  return fs::path(a).lexically_normal() / "" == fs::path(b).lexically_normal() / "";
}

// A value as a flag takes it: 3e-3, cpu, 4,8,16.
std::string shown(const nlohmann::json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (!v.is_array()) return v.dump();
  std::string out;
  for (const auto& e : v) out += (out.empty() ? "" : ",") + shown(e);
  return out;
}

}  // namespace

std::vector<std::string> resume_option_changes(const nlohmann::json& saved, const TrainOptions& now,
                                               const std::string& where) {
  const nlohmann::json cur = train_options_to_json(now);
  // A key missing from `saved` (a checkpoint of an older version) cannot be compared.
  for (const char* key : kRefused) {
    if (!saved.contains(key)) continue;
    const auto& old_v = saved.at(key);
    const auto new_v = cur.contains(key) ? cur.at(key) : nlohmann::json();
    bool same = old_v == new_v;
    if (!same && std::string(key) == "data" && old_v.is_string() && new_v.is_string())
      same = same_data(old_v.get<std::string>(), new_v.get<std::string>());
    ORYX_CHECK(same, "--resume: ", flag_name(key), " is ", shown(new_v), " but the run in ", where, " used ",
               shown(old_v), ", which decides the data order or what a step is: pass ", flag_name(key), " ",
               shown(old_v), " or start a new run");
  }
  std::vector<std::string> notices;
  for (const char* key : kNoticed) {
    if (!saved.contains(key) || saved.at(key) == cur.at(key)) continue;
    notices.push_back("resuming with " + flag_name(key) + " " + shown(cur.at(key)) + " (the run so far used " +
                      shown(saved.at(key)) + ")");
  }
  return notices;
}

}  // namespace oryx
