// What `oryx train` may do with its run folder (--out). Training truncates metrics.jsonl and
// replaces run.json, ckpt/, final/ and loss.png there, so a folder that already holds
// anything is used only when the user says how: --resume continues the run in it,
// --overwrite replaces that run.
#pragma once
#include <string>

namespace oryx {

// Creates `out` if needed and checks that a run may use it: a non-empty folder needs
// `resume` or `overwrite`, and `resume` refuses a finished run whose ckpt/ is gone (it would
// silently start over). With `overwrite`, deletes the previous run's outputs (ckpt/ and
// final/ only if they are checkpoints; nothing else of the folder). Also deletes the stale
// temporaries that a killed save of ours left beside ckpt/ and final/. Throws oryx::Error.
void run_folder_claim(const std::string& out, bool resume, bool overwrite);

}  // namespace oryx
