// Crash-safe writes for checkpoints, configs and metrics summaries. A reader must only ever
// see the old contents or the new ones, never a half-written file: we write a temporary in
// the same folder (so that rename(2) stays on one filesystem and is atomic), fsync it,
// rename it over the target and fsync the folder so that the rename itself survives a power
// loss.
//
// Folders (checkpoints) cannot be swapped atomically by rename(2) when the target exists and
// is not empty, so atomic_replace_dir moves the old folder aside first. That leaves one crash
// window, between the two renames, where `final_dir` is missing and `final_dir.old-<random>`
// holds the previous complete checkpoint; atomic_resolve_dir returns that folder then, so
// loaders should always go through it. A crash before the first rename leaves the caller's
// tmp_dir behind (the old folder stays valid); a crash after the second leaves only a stale
// `.old-*` folder.
//
// Stale folders are deleted only when they are ours: a folder we move aside or create as a
// temporary holds a marker file naming the folder itself, so a user's own `ckpt.old-backup`
// (or a copy of one of ours under another name) is never touched. Stale `.old-*` folders go
// at the next successful atomic_replace_dir, temporaries of dead processes at the next
// atomic_make_tmp_dir or atomic_remove_leftovers.
#pragma once
#include <functional>
#include <ostream>
#include <string>

namespace oryx {

// Writes `path` through `write`, atomically. If `write` throws or the stream fails, the
// temporary is removed, `path` keeps its old contents (or stays absent) and the exception
// propagates (stream failures become oryx::Error).
void atomic_write_file(const std::string& path, const std::function<void(std::ostream&)>& write);

// atomic_write_file with fixed contents.
void atomic_write_text(const std::string& path, const std::string& text);

// Makes `final_dir` hold what `tmp_dir` holds (see the file comment for the crash windows).
// Every file below tmp_dir is fsynced first; tmp_dir must be on the same filesystem as
// final_dir (make it a sibling). On an error before the new folder is in place the old
// folder is put back.
void atomic_replace_dir(const std::string& tmp_dir, const std::string& final_dir);

// A new empty folder beside `final_dir` (`<final_dir>.tmp-<pid>-<random>`) to fill and pass
// to atomic_replace_dir, marked as ours so that the leftover of a killed process is cleaned
// later. Cleans such leftovers first (atomic_remove_leftovers).
std::string atomic_make_tmp_dir(const std::string& final_dir);

// A folder from atomic_make_tmp_dir, deleted when this goes out of scope unless it has been
// published by atomic_replace_dir (nothing is left at its path then): a write that fails
// half-way leaves nothing behind, and one that is killed leaves a marked temporary that the
// next atomic_make_tmp_dir deletes.
class ScopedTmpDir {
 public:
  explicit ScopedTmpDir(const std::string& final_dir);
  ~ScopedTmpDir();
  ScopedTmpDir(const ScopedTmpDir&) = delete;
  ScopedTmpDir& operator=(const ScopedTmpDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Deletes our stale folders beside `final_dir`: temporaries of processes that are gone and,
// while final_dir itself exists (so they are obsolete), moved-aside old versions.
void atomic_remove_leftovers(const std::string& final_dir);

// Deletes `final_dir` and every folder of ours beside it (old versions, dead temporaries);
// throws oryx::Error if final_dir cannot be deleted.
void atomic_remove_dir(const std::string& final_dir);

// The folder a loader should read for `final_dir`: final_dir itself, or the previous
// version left by a crash inside atomic_replace_dir. Throws oryx::Error if neither exists.
std::string atomic_resolve_dir(const std::string& final_dir);

// Points where the functions above can be interrupted, for tests that simulate a crash.
enum class AtomicStage {
  BeforeRename,     // the temporary file or tmp_dir is complete and synced, nothing renamed yet
  BetweenRenames,   // atomic_replace_dir: the old folder is renamed aside, the new one not in
  BeforeRemoveOld,  // atomic_replace_dir: the new folder is in place, the old one not deleted
};

struct AtomicFileTestHooks {
  // Called at each stage with the path being published. A test makes it end the process
  // (std::_Exit inside a death test) to leave the disk exactly as a crash would. Empty in
  // production.
  std::function<void(AtomicStage, const std::string& path)> at_stage;
};

// The process-wide hooks; tests set them and must reset them to {} afterwards.
AtomicFileTestHooks& atomic_file_test_hooks();

}  // namespace oryx
