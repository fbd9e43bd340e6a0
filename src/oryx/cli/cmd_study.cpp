// oryx study: train the models of a plan on the same data and budget, evaluate each with the
// same tasks, write results.md with tables, plots and the answers (src/oryx/study).
#include <iostream>

#include "oryx/cli/commands.h"
#include "oryx/cli/flag_limits.h"
#include "oryx/common/error.h"
#include "oryx/study/study.h"

namespace oryx::cli {

void register_study(CLI::App& app) {
  struct Options {
    std::string plan, out;
    int64_t parallel = 0;
    bool report_only = false;
  };
  auto o = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("study", "Train and evaluate a list of models; write a results table");
  cmd->footer(
      "The plan (JSON or TOML) lists models, shared training options and evals: see\n"
      "docs/study-plans.md and runs/study-*.toml. Run it again to resume: finished models\n"
      "and evals are kept, interrupted training continues from its checkpoint.\n"
      "Examples:\n"
      "  oryx study --plan runs/study-mqar.toml --out runs/out/study-mqar\n"
      "  oryx study --plan runs/study-125m.toml --parallel 4     # 4 GPUs: set devices in the plan\n"
      "  oryx study --plan runs/study-125m.toml --report-only    # rewrite results.md only");
  cmd->add_option("--plan", o->plan, "Study plan (.json or .toml)")->required();
  cmd->add_option("--out", o->out, "Results folder (default: the plan's out)");
  cmd->add_option("--parallel", o->parallel, "Jobs at once (default: the plan's parallel)")
      ->check(in_range<int64_t>(0, 256));
  cmd->add_flag("--report-only", o->report_only, "Only rewrite the report from existing results");
  cmd->callback([o] {
    StudyPlan plan = study_plan_load(o->plan);
    StudyOptions so;
    so.out = o->out;
    so.parallel = o->parallel;
    so.report_only = o->report_only;
    ORYX_CHECK(so.parallel >= 0, "--parallel must be >= 0, got ", so.parallel);
    StudySummary s = study_run(plan, so);
    std::cout << "study: " << s.jobs << " job(s) run, " << s.skipped << " already done, " << s.failed
              << " failed; report " << s.report << "\n";
    ORYX_CHECK(s.failed == 0, s.failed, " study job(s) failed (logs under each model's logs/); run again to retry");
  });
}

}  // namespace oryx::cli
