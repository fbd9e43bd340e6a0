// `oryx study`: train every model of a plan (study/plan.h) on the same data and budget,
// evaluate each with the same tasks, and write the comparison. Layout of the results folder:
//
//   <out>/<model>/run.json          the exact `oryx train` options of the model
//   <out>/<model>/metrics.jsonl     its training run (ckpt/ while training, final/ at the end)
//   <out>/<model>/evals/<eval>.json `oryx eval --json` output, written when the eval succeeds
//   <out>/<model>/logs/             stdout and stderr of every job
//   <out>/results.md                the tables and answers (study/report.h)
//   <out>/results.json, *.png       the same numbers, loss curves, accuracy vs attention fraction
//
// A study resumes where it stopped: a model with final/ is not trained again, one with ckpt/
// continues with --resume, and an eval whose result file exists is not run again.
#pragma once
#include <string>

#include "oryx/study/plan.h"

namespace oryx {

struct StudyOptions {
  std::string out;           // overrides the plan's out
  int64_t parallel = 0;      // overrides the plan's parallel (0: keep)
  bool report_only = false;  // only rewrite the report from the results there are
  std::string oryx_binary;   // the program run for jobs ("" = this process's own binary)
};

struct StudySummary {
  int64_t jobs = 0, skipped = 0, failed = 0;  // skipped: already done by an earlier run
  std::string report;                         // path of results.md
};

// Runs the plan; throws oryx::Error if the plan's folder cannot be used. Failed jobs do not
// stop the others: they are counted in the summary (and named on stderr), and the report is
// written from whatever finished.
StudySummary study_run(const StudyPlan& plan, const StudyOptions& options);

}  // namespace oryx
