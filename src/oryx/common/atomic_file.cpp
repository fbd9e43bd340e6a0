#include "oryx/common/atomic_file.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <vector>

#include "oryx/common/error.h"
#include "oryx/common/remove_tree.h"

namespace oryx {
namespace {

namespace fs = std::filesystem;

// 8 hex digits, so that two writers (or a crashed writer's leftovers) never share a name.
std::string random_suffix() {
  std::random_device rd;
  char buf[9];
  std::snprintf(buf, sizeof(buf), "%08x", static_cast<unsigned>(rd()));
  return buf;
}

std::string parent_dir(const std::string& path) {
  std::string parent = fs::path(path).parent_path().string();
  return parent.empty() ? "." : parent;
}

// "ckpt/" would otherwise have an empty file name and put its `.old-*` sibling inside itself.
std::string strip_trailing_slashes(std::string path) {
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  return path;
}

void sync_path(const std::string& path, bool is_dir) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | (is_dir ? O_DIRECTORY : 0));
  ORYX_CHECK(fd >= 0, "cannot open ", path, " to fsync it: ", std::strerror(errno));
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  // Some filesystems (certain network and FUSE mounts) cannot sync a folder and say EINVAL;
  // there is nothing better to do there than to trust the rename.
  if (rc != 0 && is_dir && err == EINVAL) return;
  ORYX_CHECK(rc == 0, "cannot fsync ", path, ": ", std::strerror(err));
}

// Every file and folder below `dir`, then `dir` itself, so that both the contents and the
// folder entries are on disk before the folder is published. Symlinks are not followed.
void sync_tree(const std::string& dir) {
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (entry.is_symlink()) continue;
    if (entry.is_regular_file()) sync_path(entry.path().string(), false);
    else if (entry.is_directory()) sync_path(entry.path().string(), true);
  }
  sync_path(dir, true);
}

void run_hook(AtomicStage stage, const std::string& path) {
  const auto& hook = atomic_file_test_hooks().at_stage;
  if (hook) hook(stage, path);
}

// The file that marks a folder as our scratch copy; it holds the folder's own name.
constexpr const char* kScratchMarker = ".oryx-scratch";

// Marks `dir` as ours under the name `name` (the one it has, or is about to be renamed to).
void mark_scratch(const std::string& dir, const std::string& name) {
  std::ofstream out(dir + "/" + kScratchMarker, std::ios::trunc);
  out << name << "\n";
  out.close();
  ORYX_CHECK(out, "cannot write ", dir, "/", kScratchMarker, ": ", std::strerror(errno));
}

void unmark_scratch(const std::string& dir) { ::unlink((dir + "/" + kScratchMarker).c_str()); }

// Whether `dir` is a real folder (not a link) that carries our marker with its own name.
bool is_our_scratch(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(fs::symlink_status(dir, ec))) return false;
  std::ifstream in(dir + "/" + kScratchMarker);
  std::string name;
  return std::getline(in, name) && name == fs::path(dir).filename().string();
}

// Folders beside `final_dir` named `<final_dir name><infix>...`.
std::vector<std::string> list_siblings(const std::string& final_dir, const std::string& infix) {
  const std::string prefix = fs::path(final_dir).filename().string() + infix;
  std::vector<std::string> found;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(parent_dir(final_dir), ec)) {
    const std::string name = entry.path().filename().string();
    if (name.compare(0, prefix.size(), prefix) == 0 && entry.is_directory())
      found.push_back(entry.path().string());
  }
  return found;
}

// The `final_dir.old-*` siblings left by atomic_replace_dir (or made by someone else).
std::vector<std::string> list_old_dirs(const std::string& final_dir) {
  return list_siblings(final_dir, ".old-");
}

// Called only while `final_dir` holds a complete version, so every `.old-*` of ours is
// obsolete. A folder that cannot be deleted is left behind: the new version is already in
// place and failing the save over garbage would be worse.
void remove_old_dirs(const std::string& final_dir) {
  for (const auto& old : list_old_dirs(final_dir))
    if (is_our_scratch(old)) remove_tree(old);
}

// Our `<final_dir>.tmp-<pid>-*` temporaries whose process has ended (a live one may be
// saving right now).
void remove_dead_tmp_dirs(const std::string& final_dir) {
  const std::string prefix = fs::path(final_dir).filename().string() + ".tmp-";
  for (const auto& tmp : list_siblings(final_dir, ".tmp-")) {
    const std::string rest = fs::path(tmp).filename().string().substr(prefix.size());
    char* end = nullptr;
    const long pid = std::strtol(rest.c_str(), &end, 10);
    if (pid <= 0 || *end != '-' || !is_our_scratch(tmp)) continue;
    if (::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) remove_tree(tmp);
  }
}

void rename_or_fail(const std::string& from, const std::string& to) {
  ORYX_CHECK(::rename(from.c_str(), to.c_str()) == 0, "cannot rename ", from, " to ", to, ": ",
             std::strerror(errno));
}

}  // namespace

AtomicFileTestHooks& atomic_file_test_hooks() {
  static AtomicFileTestHooks hooks;
  return hooks;
}

void atomic_write_file(const std::string& path, const std::function<void(std::ostream&)>& write) {
  const std::string tmp =
      path + ".tmp-" + std::to_string(static_cast<long>(::getpid())) + "-" + random_suffix();
  try {
    {
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
      ORYX_CHECK(out, "cannot write ", path, ": cannot create ", tmp, ": ", std::strerror(errno));
      write(out);
      out.flush();
      ORYX_CHECK(out, "cannot write ", path, ": writing ", tmp, " failed: ", std::strerror(errno));
      out.close();
      ORYX_CHECK(out, "cannot write ", path, ": closing ", tmp, " failed: ", std::strerror(errno));
    }
    sync_path(tmp, false);
    run_hook(AtomicStage::BeforeRename, path);
    rename_or_fail(tmp, path);
  } catch (...) {
    std::remove(tmp.c_str());
    throw;
  }
  sync_path(parent_dir(path), true);
}

void atomic_write_text(const std::string& path, const std::string& text) {
  atomic_write_file(path, [&](std::ostream& out) { out.write(text.data(), text.size()); });
}

void atomic_replace_dir(const std::string& tmp_dir, const std::string& final_dir_arg) {
  const std::string final_dir = strip_trailing_slashes(final_dir_arg);
  ORYX_CHECK(fs::is_directory(tmp_dir), "cannot publish ", final_dir, ": ", tmp_dir,
             " is not a folder");
  unmark_scratch(tmp_dir);  // once published it is no longer scratch
  sync_tree(tmp_dir);
  run_hook(AtomicStage::BeforeRename, final_dir);
  std::string old;
  const auto final_status = fs::symlink_status(final_dir);
  if (fs::exists(final_status)) {
    remove_old_dirs(final_dir);
    old = final_dir + ".old-" + random_suffix();
    // Marked before the move, so that a crash right after it leaves a folder known as ours.
    const bool mark = fs::is_directory(final_status);
    if (mark) mark_scratch(final_dir, fs::path(old).filename().string());
    if (::rename(final_dir.c_str(), old.c_str()) != 0) {
      const int err = errno;
      if (mark) unmark_scratch(final_dir);
      ORYX_FAIL("cannot rename ", final_dir, " to ", old, ": ", std::strerror(err));
    }
    run_hook(AtomicStage::BetweenRenames, final_dir);
  }
  if (::rename(tmp_dir.c_str(), final_dir.c_str()) != 0) {
    const int err = errno;
    if (!old.empty() && ::rename(old.c_str(), final_dir.c_str()) == 0) unmark_scratch(final_dir);
    ORYX_FAIL("cannot rename ", tmp_dir, " to ", final_dir, ": ", std::strerror(err));
  }
  // One fsync covers both renames: they are entries of the same folder.
  sync_path(parent_dir(final_dir), true);
  run_hook(AtomicStage::BeforeRemoveOld, final_dir);
  remove_old_dirs(final_dir);
}

std::string atomic_make_tmp_dir(const std::string& final_dir_arg) {
  const std::string final_dir = strip_trailing_slashes(final_dir_arg);
  atomic_remove_leftovers(final_dir);
  const std::string tmp =
      final_dir + ".tmp-" + std::to_string(static_cast<long>(::getpid())) + "-" + random_suffix();
  ORYX_CHECK(::mkdir(tmp.c_str(), 0777) == 0, "cannot create ", tmp, ": ", std::strerror(errno));
  try {
    mark_scratch(tmp, fs::path(tmp).filename().string());
  } catch (...) {
    remove_tree(tmp);
    throw;
  }
  return tmp;
}

ScopedTmpDir::ScopedTmpDir(const std::string& final_dir) : path_(atomic_make_tmp_dir(final_dir)) {}

ScopedTmpDir::~ScopedTmpDir() { remove_tree(path_); }

void atomic_remove_leftovers(const std::string& final_dir_arg) {
  const std::string final_dir = strip_trailing_slashes(final_dir_arg);
  remove_dead_tmp_dirs(final_dir);
  std::error_code ec;
  if (fs::is_directory(final_dir, ec)) remove_old_dirs(final_dir);
}

void atomic_remove_dir(const std::string& final_dir_arg) {
  const std::string final_dir = strip_trailing_slashes(final_dir_arg);
  ORYX_CHECK(remove_tree(final_dir), "cannot remove ", final_dir);
  for (const auto& old : list_old_dirs(final_dir))
    if (is_our_scratch(old)) remove_tree(old);
  remove_dead_tmp_dirs(final_dir);
}

std::string atomic_resolve_dir(const std::string& final_dir_arg) {
  const std::string final_dir = strip_trailing_slashes(final_dir_arg);
  const auto status = fs::status(final_dir);
  if (fs::exists(status)) {
    ORYX_CHECK(fs::is_directory(status), final_dir, " is not a folder");
    return final_dir;
  }
  const auto old = list_old_dirs(final_dir);
  if (old.size() == 1) return old[0];
  ORYX_CHECK(!old.empty(), "folder ", final_dir, " does not exist");
  std::string names;
  for (const auto& o : old) names += (names.empty() ? "" : ", ") + o;
  ORYX_FAIL("folder ", final_dir, " is missing and several interrupted saves left older versions (",
            names, "); rename the one to keep to ", final_dir);
}

}  // namespace oryx
