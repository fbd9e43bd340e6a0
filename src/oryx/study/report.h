// The study report: reads what the jobs left in a results folder (study/study.h) and writes
//   results.md    tables per model, per task and schedule, and the three questions of the
//                 study answered with numbers (see the rules below)
//   results.json  the same numbers
//   loss.png      training and validation loss curves of every model
//   <eval>.png    accuracy against attention fraction, per retrieval eval
// from whatever exists: a model still training or an eval that failed shows as missing.
//
// Rules of the answers, fixed here so that nobody tunes them after seeing the numbers:
//   (a)/(b) validation loss comes from the first `ppl` eval of the plan (else the last
//           evaluation in the training metrics); an Oryx schedule "matches" a baseline when
//           its loss is within 0.02 nats of it and "beats" it when lower by more than that.
//           Zero-shot results are the mean accuracy over the accuracy tasks of each `mc`
//           eval, and separately the mean bits per byte over its bpb tasks.
//   (c)     per retrieval eval, the Transformer's accuracy is the bar; the answer is the
//           smallest attention fraction among the Oryx model's schedules whose accuracy is at
//           least the bar, and whether it is below 0.10. A bar below 0.10 accuracy means the
//           Transformer has not learnt the task at this scale: no conclusion is drawn.
#pragma once
#include <string>

#include "oryx/study/plan.h"

namespace oryx {

// Writes the report files into `out`; returns the path of results.md.
std::string study_report(const StudyPlan& plan, const std::string& out);

}  // namespace oryx
