#include "oryx/study/plan.h"

#include <algorithm>
#include <filesystem>
#include <set>

#include "oryx/common/error.h"
#include "oryx/common/json_fields.h"
#include "oryx/train/options.h"

namespace fs = std::filesystem;

namespace oryx {

namespace {

// Folder and file names come from plan names: keep them to one safe path component.
void check_name(const std::string& name, const std::string& where) {
  ORYX_CHECK(!name.empty() && name.size() <= 64, where, ": a name must have 1 to 64 characters");
  for (char c : name)
    ORYX_CHECK(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.', where,
               ": name '", name, "' may only use letters, digits, '-', '_' and '.'");
  ORYX_CHECK(name != "." && name != "..", where, ": name '", name, "' is not a folder name");
}

std::vector<std::string> string_list(const nlohmann::json& j, const std::string& where) {
  ORYX_CHECK(j.is_array(), where, " must be a list of strings");
  std::vector<std::string> out;
  for (const auto& e : j) {
    ORYX_CHECK(e.is_string(), where, " must hold strings, got ", e.dump());
    out.push_back(e.get<std::string>());
  }
  return out;
}

StudyModel parse_model(const nlohmann::json& j, const std::string& where) {
  ORYX_CHECK(j.is_object(), where, " must be a table with name and config");
  JsonFields f(j, where);
  StudyModel m;
  m.name = f.str("name", "");
  m.config = f.str("config", "");
  if (f.has("train")) m.train = f.raw("train");
  m.gpus = f.int_in("gpus", m.gpus, 1, 1024);
  f.reject_unknown();
  check_name(m.name, where);
  ORYX_CHECK(!m.config.empty(), where, ": key 'config' is required");
  ORYX_CHECK(fs::is_regular_file(m.config), where, ": config ", m.config, " does not exist");
  ORYX_CHECK(m.train.is_object(), where, ": key 'train' must be a table of `oryx train` options");
  return m;
}

StudyEval parse_eval(const nlohmann::json& j, const std::string& where) {
  ORYX_CHECK(j.is_object(), where, " must be a table with name and args");
  JsonFields f(j, where);
  StudyEval e;
  e.name = f.str("name", "");
  ORYX_CHECK(f.has("args"), where, ": key 'args' is required (the `oryx eval` flags)");
  e.args = string_list(f.raw("args"), where + ": key 'args'");
  e.schedules = f.str("schedules", e.schedules);
  f.reject_unknown();
  check_name(e.name, where);
  static const std::set<std::string> owned = {"--checkpoint", "--config", "--weights", "--schedule",
                                              "--schedules", "--json", "--device"};
  for (size_t i = 0; i < e.args.size(); ++i) {
    const std::string flag = e.args[i].substr(0, e.args[i].find('='));
    ORYX_CHECK(!owned.count(flag), where, ": args must not set ", flag,
               " (the study sets it; schedules go in key 'schedules')");
    if (flag == "--task") {
      const auto eq = e.args[i].find('=');
      ORYX_CHECK(eq != std::string::npos || i + 1 < e.args.size(), where, ": --task needs a value");
      e.task = eq != std::string::npos ? e.args[i].substr(eq + 1) : e.args[i + 1];
    }
  }
  ORYX_CHECK(!e.task.empty(), where, ": args must name the task (--task ppl|mqar|niah|kv|mc)");
  ORYX_CHECK(std::set<std::string>({"ppl", "mqar", "niah", "kv", "mc"}).count(e.task), where,
             ": unknown task '", e.task, "' (ppl, mqar, niah, kv or mc)");
  return e;
}

}  // namespace

StudyPlan study_plan_load(const std::string& path) {
  ORYX_CHECK(fs::is_regular_file(path), "study plan ", path, " does not exist");
  const nlohmann::json j = train_run_file_read(path);  // JSON or TOML, as run files
  ORYX_CHECK(j.is_object(), path, ": a study plan must be one table of keys");
  JsonFields f(j, path);
  StudyPlan p;
  p.path = path;
  p.out = f.str("out", "");
  p.parallel = f.int_in("parallel", p.parallel, 1, 256);
  if (f.has("devices")) p.devices = string_list(f.raw("devices"), path + ": key 'devices'");
  if (f.has("train")) p.train = f.raw("train");
  ORYX_CHECK(p.train.is_object(), path, ": key 'train' must be a table of `oryx train` options");
  ORYX_CHECK(f.has("models") && f.raw("models").is_array() && !f.raw("models").empty(), path,
             ": key 'models' must be a non-empty list of {name, config}");
  const auto& models = f.raw("models");
  for (size_t i = 0; i < models.size(); ++i)
    p.models.push_back(parse_model(models[i], path + ": models[" + std::to_string(i) + "]"));
  if (f.has("evals")) {
    const auto& evals = f.raw("evals");
    ORYX_CHECK(evals.is_array(), path, ": key 'evals' must be a list of {name, args, schedules}");
    for (size_t i = 0; i < evals.size(); ++i)
      p.evals.push_back(parse_eval(evals[i], path + ": evals[" + std::to_string(i) + "]"));
  }
  f.reject_unknown();

  std::set<std::string> names;
  for (const auto& m : p.models) ORYX_CHECK(names.insert(m.name).second, path, ": two models named '", m.name, "'");
  // A model trained on several GPUs needs a slot that has them, whichever slot it gets.
  for (const auto& m : p.models)
    for (const auto& d : p.devices) {
      const auto listed = static_cast<int64_t>(std::count(d.begin(), d.end(), ',') + 1);
      ORYX_CHECK(listed >= m.gpus, path, ": model '", m.name, "' asks for gpus = ", m.gpus, " but the slot devices = \"",
                 d, "\" has ", listed, "; list that many per slot (e.g. devices = [\"0,1\", \"2,3\"])");
    }
  names.clear();
  for (const auto& e : p.evals) ORYX_CHECK(names.insert(e.name).second, path, ": two evals named '", e.name, "'");
  for (const char* key : {"config", "out", "resume"})
    ORYX_CHECK(!p.train.contains(key), path, ": [train] must not set '", key, "' (the study sets it)");
  // Validate every model's training options now, not hours later when its job starts.
  for (const auto& m : p.models)
    train_options_from_json(study_train_options(p, m, "<out>"), path + ": train options of model '" + m.name + "'");
  return p;
}

nlohmann::json study_train_options(const StudyPlan& plan, const StudyModel& model, const std::string& out_dir) {
  nlohmann::json j = plan.train;
  for (auto& [k, v] : model.train.items()) j[k] = v;
  j["config"] = model.config;
  j["out"] = out_dir;
  return j;
}

std::string study_schedules_for(const StudyEval& eval, const ModelConfig& config) {
  if (config.kind == ModelKind::Transformer) return "all-A";
  if (config.kind == ModelKind::Linear) return "all-L";
  return eval.schedules;
}

}  // namespace oryx
