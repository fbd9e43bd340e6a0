#include "oryx/study/study.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

#include "oryx/common/atomic_file.h"
#include "oryx/common/error.h"
#include "oryx/common/remove_tree.h"
#include "oryx/study/jobs.h"
#include "oryx/study/report.h"

namespace fs = std::filesystem;

namespace oryx {

namespace {

std::string self_binary() {
  std::error_code ec;
  auto p = fs::read_symlink("/proc/self/exe", ec);
  ORYX_CHECK(!ec, "study: cannot find the oryx binary (/proc/self/exe): ", ec.message());
  return p.string();
}

// "{data}" in eval args stands for the plan's training data.
std::string substitute(std::string arg, const std::string& data) {
  for (size_t at; (at = arg.find("{data}")) != std::string::npos;) arg.replace(at, 6, data);
  return arg;
}

bool training_done(const std::string& dir) { return fs::is_regular_file(dir + "/final/config.json"); }

}  // namespace

StudySummary study_run(const StudyPlan& plan, const StudyOptions& options) {
  const std::string out = !options.out.empty() ? options.out : plan.out;
  ORYX_CHECK(!out.empty(), plan.path, ": no results folder: set key 'out' or pass --out");
  fs::create_directories(out);
  StudySummary summary;
  summary.report = out + "/results.md";
  if (options.report_only) {
    study_report(plan, out);
    return summary;
  }
  const std::string binary = options.oryx_binary.empty() ? self_binary() : options.oryx_binary;
  const std::string data = plan.train.value("data", std::string());
  const std::string device = plan.train.value("device", std::string("auto"));

  std::vector<Job> jobs;
  for (const auto& m : plan.models) {
    const std::string dir = out + "/" + m.name;
    fs::create_directories(dir + "/logs");
    fs::create_directories(dir + "/evals");
    int train_job = -1;
    if (training_done(dir)) {
      ++summary.skipped;
    } else {
      // The folder always holds the study's own files (run.json, logs/), so the job says what
      // to do with it: continue from ckpt/, or start over (a run that died before its first
      // checkpoint; --overwrite drops its partial curve).
      const bool resume = fs::exists(dir + "/ckpt");
      atomic_write_text(dir + "/run.json", study_train_options(plan, m, dir).dump(2) + "\n");
      Job j;
      j.name = "train " + m.name;
      j.argv = {binary, "train", "--run", dir + "/run.json", "--json"};
      j.argv.push_back(resume ? "--resume" : "--overwrite");
      if (m.gpus > 1) j.argv.insert(j.argv.end(), {"--nproc-per-node", std::to_string(m.gpus)});
      j.stdout_path = dir + "/logs/train.out";
      j.stderr_path = dir + "/logs/train.log";
      j.on_success = [dir, name = j.name] {
        ORYX_CHECK(training_done(dir), name, " exited without a final checkpoint in ", dir, "/final");
      };
      train_job = static_cast<int>(jobs.size());
      jobs.push_back(std::move(j));
    }
    const ModelConfig config = config_load(m.config);
    for (const auto& e : plan.evals) {
      const std::string result = dir + "/evals/" + e.name + ".json";
      if (fs::is_regular_file(result)) {
        ++summary.skipped;
        continue;
      }
      Job j;
      j.name = "eval " + m.name + "/" + e.name;
      j.argv = {binary, "eval", "--checkpoint", dir + "/final", "--device", device, "--json",
                "--schedules", study_schedules_for(e, config)};
      for (const auto& a : e.args) j.argv.push_back(substitute(a, data));
      j.stdout_path = dir + "/evals/" + e.name + ".json.part";
      j.stderr_path = dir + "/logs/eval-" + e.name + ".log";
      j.after = train_job;
      j.on_success = [part = j.stdout_path, result, name = j.name] {
        std::ifstream in(part);
        ORYX_CHECK(nlohmann::json::accept(in), name, ": its output ", part, " is not JSON");
        fs::rename(part, result);
      };
      jobs.push_back(std::move(j));
    }
  }
  summary.jobs = static_cast<int64_t>(jobs.size());
  JobPoolOptions pool;
  pool.parallel = options.parallel > 0 ? options.parallel : plan.parallel;
  pool.devices = plan.devices;
  // Split the cores between the jobs, unless the user chose a thread count.
  if (!std::getenv("OMP_NUM_THREADS"))
    pool.threads_per_job = std::max<int64_t>(1, static_cast<int64_t>(std::thread::hardware_concurrency()) / pool.parallel);
  const auto results = jobs_run(jobs, pool);
  for (size_t i = 0; i < results.size(); ++i) {
    if (results[i].ok)
      std::cerr << "[study] " << jobs[i].name << ": done in " << static_cast<int64_t>(results[i].seconds) << " s\n";
    else
      ++summary.failed;
  }
  study_report(plan, out);
  return summary;
}

}  // namespace oryx
