// A study plan: which models to train on which data and token budget, and which evaluations
// to run on each trained model. One JSON or TOML file; `oryx study --plan FILE` runs it.
//
//   out = "runs/out/study-small"      # results folder (the --out flag overrides it)
//   parallel = 4                      # jobs at once (default 1)
//   devices = ["0", "1", "2", "3"]    # CUDA_VISIBLE_DEVICES of job slot i: devices[i % n];
//                                     # a slot may hold several GPUs: ["0,1", "2,3"]
//
//   [train]                           # `oryx train` options shared by every model
//   data = "data/corpus"
//   tokens = 209715200
//   ...
//
//   [[models]]
//   name = "oryx-gdn"
//   config = "configs/oryx-gdn-125m.json"
//   train = { lr = 1e-3 }             # optional per-model overrides of [train]
//   gpus = 2                          # data-parallel processes for its training (default 1):
//                                     # `oryx train --nproc-per-node 2` on its slot's GPUs
//
//   [[evals]]
//   name = "mqar"
//   args = ["--task", "mqar", "--pairs", "4,16,64"]   # `oryx eval` flags; {data} = train.data
//   schedules = "default"             # or "S1;S2;..."; see study_schedules_for
//
// Every model is trained with the same [train] options (only per-model overrides differ) and
// evaluated with every [[evals]] entry, so the comparison is at equal data and budget.
#pragma once
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "oryx/config/model_config.h"

namespace oryx {

struct StudyModel {
  std::string name;    // folder name under <out>/models/
  std::string config;  // model config path
  nlohmann::json train = nlohmann::json::object();  // overrides of the plan's [train]
  int64_t gpus = 1;    // processes of its training run (--nproc-per-node)
};

struct StudyEval {
  std::string name;                // result file <out>/models/<model>/evals/<name>.json
  std::vector<std::string> args;   // `oryx eval` flags (no --checkpoint, --schedule(s), --json)
  std::string schedules = "default";
  std::string task;                // the --task in args (ppl, mqar, niah, kv, mc)
};

struct StudyPlan {
  std::string path;  // where it was read from (messages)
  std::string out;
  int64_t parallel = 1;
  std::vector<std::string> devices;
  nlohmann::json train = nlohmann::json::object();
  std::vector<StudyModel> models;
  std::vector<StudyEval> evals;
};

// Reads and validates a plan (.json or .toml): unknown keys, duplicate names, missing
// configs, a [train] that `oryx train` would refuse and eval args that set what the study
// sets itself are errors naming the file and key.
StudyPlan study_plan_load(const std::string& path);

// The full `oryx train` options of one model: [train], its overrides, config and out.
nlohmann::json study_train_options(const StudyPlan& plan, const StudyModel& model, const std::string& out_dir);

// The schedules one eval runs on a model: a transformer has only all-A and a pure linear
// model only all-L (any other schedule is impossible for them); an Oryx model runs the eval's
// list ("default" is eval/sweep.h's sweep from all-L to all-A).
std::string study_schedules_for(const StudyEval& eval, const ModelConfig& config);

}  // namespace oryx
