#include "oryx/train/run_folder.h"

#include <filesystem>
#include <vector>

#include "oryx/common/atomic_file.h"
#include "oryx/common/error.h"
#include "oryx/common/remove_tree.h"

namespace fs = std::filesystem;

namespace oryx {

namespace {

// Whether `dir` (or the version an interrupted save left) is a checkpoint folder.
bool holds_checkpoint(const std::string& dir) {
  try {
    const std::string d = atomic_resolve_dir(dir);
    return fs::is_regular_file(d + "/config.json") && fs::is_regular_file(d + "/model.safetensors");
  } catch (const Error&) {
    return false;
  }
}

// The first entry of `dir`, "" if it is empty.
// The first entry other than run.json: the options file a run writes (and a study writes
// before it starts the run) holds no results, and each run rewrites it.
std::string first_entry(const std::string& dir) {
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename() != "run.json") return e.path().filename().string();
  return "";
}

// Deletes what a previous run wrote in `out`, refusing folders named like ours that are not.
// Everything is checked before anything is deleted.
void remove_previous_run(const std::string& out) {
  const std::vector<std::string> dirs = {out + "/ckpt", out + "/final"};
  const std::vector<std::string> files = {out + "/metrics.jsonl", out + "/loss.png"};
  for (const auto& dir : dirs) {
    const auto status = fs::symlink_status(dir);
    ORYX_CHECK(!fs::exists(status) || (fs::is_directory(status) && holds_checkpoint(dir)), "--overwrite: ", dir,
               " is not an oryx checkpoint, so it is not deleted; move it away or choose another --out");
  }
  for (const auto& file : files)
    ORYX_CHECK(!fs::is_directory(fs::symlink_status(file)), "--overwrite: ", file,
               " is a folder, not our file, so it is not deleted; move it away or choose another --out");
  for (const auto& dir : dirs) atomic_remove_dir(dir);  // with what interrupted saves left
  for (const auto& file : files) ORYX_CHECK(remove_tree(file), "--overwrite: cannot remove ", file);
}

}  // namespace

void run_folder_claim(const std::string& out, bool resume, bool overwrite) {
  ORYX_CHECK(!(resume && overwrite), "--resume and --overwrite contradict each other: continue the run in ", out,
             " or replace it, not both");
  std::error_code ec;
  fs::create_directories(out, ec);
  ORYX_CHECK(!ec && fs::is_directory(out), "cannot create run folder ", out, ": ",
             ec ? ec.message() : "a file of that name exists");
  const std::string ckpt = out + "/ckpt", final_dir = out + "/final";
  atomic_remove_leftovers(ckpt);
  atomic_remove_leftovers(final_dir);
  if (overwrite) {
    remove_previous_run(out);
    return;
  }
  if (resume) {
    ORYX_CHECK(holds_checkpoint(ckpt) || !holds_checkpoint(final_dir), "run folder '", out,
               "' holds a finished run (final/) but no checkpoint to resume (ckpt/ is missing): pass --overwrite "
               "to train it again, or choose another --out");
    return;
  }
  const std::string entry = first_entry(out);
  ORYX_CHECK(entry.empty(), "run folder '", out, "' is not empty (it holds ", entry,
             "): pass --resume to continue its run, --overwrite to replace it, or choose another --out");
}

}  // namespace oryx
