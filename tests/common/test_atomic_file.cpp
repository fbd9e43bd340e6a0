// Atomic file and folder replacement. A writer that fails must leave the old file as it was;
// a crash at any point of a save (simulated by ending a forked child at each AtomicStage,
// with nothing cleaned up, as a real crash would) must leave something that loads: the old
// version or the new one, found through atomic_resolve_dir.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>

#include "oryx/common/atomic_file.h"
#include "oryx/common/error.h"
#include "oryx/common/remove_tree.h"
#include "support/temp_dir.h"

namespace oryx::testing {
namespace {

namespace fs = std::filesystem;

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::vector<std::string> names_in(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

// A checkpoint-like folder `dir` holding weights.txt with `text`.
void make_version(const std::string& dir, const std::string& text) {
  fs::create_directories(dir);
  std::ofstream(dir + "/weights.txt") << text;
}

// Ends the process (no unwinding, no cleanup) when the save reaches `stage`.
void crash_at(AtomicStage stage) {
  atomic_file_test_hooks().at_stage = [stage](AtomicStage s, const std::string&) {
    if (s == stage) std::_Exit(3);
  };
}

TEST(AtomicFileTest, WritesAndReplacesWithoutLeftovers) {
  TempDir dir;
  const std::string path = dir.file("a.json");
  atomic_write_text(path, "first");
  EXPECT_EQ(slurp(path), "first");
  atomic_write_file(path, [](std::ostream& out) { out << "second " << 2; });
  EXPECT_EQ(slurp(path), "second 2");
  EXPECT_EQ(names_in(dir.path()), std::vector<std::string>{"a.json"});
}

TEST(AtomicFileTest, ThrowingWriterKeepsOldFile) {
  TempDir dir;
  const std::string path = dir.file("a.json");
  atomic_write_text(path, "old");
  auto half_then_throw = [](std::ostream& out) {
    out << std::string(100000, 'x');
    throw std::runtime_error("disk on fire");
  };
  EXPECT_THROW(atomic_write_file(path, half_then_throw), std::runtime_error);
  EXPECT_EQ(slurp(path), "old");
  EXPECT_EQ(names_in(dir.path()), std::vector<std::string>{"a.json"});

  // A writer that throws before the target ever existed leaves nothing behind.
  EXPECT_THROW(atomic_write_file(dir.file("new.json"), half_then_throw), std::runtime_error);
  EXPECT_EQ(names_in(dir.path()), std::vector<std::string>{"a.json"});
}

TEST(AtomicFileTest, FailedStreamIsAnErrorAndKeepsOldFile) {
  TempDir dir;
  const std::string path = dir.file("a.json");
  atomic_write_text(path, "old");
  EXPECT_THROW(atomic_write_file(path, [](std::ostream& out) { out.setstate(std::ios::badbit); }),
               Error);
  EXPECT_EQ(slurp(path), "old");
  EXPECT_EQ(names_in(dir.path()), std::vector<std::string>{"a.json"});
}

TEST(AtomicFileTest, MissingFolderIsAnErrorNamingThePath) {
  TempDir dir;
  const std::string path = dir.file("no/such/folder/a.json");
  try {
    atomic_write_text(path, "x");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
}

TEST(AtomicFileDeathTest, CrashBeforeRenameKeepsOldFile) {
  TempDir dir;
  const std::string path = dir.file("a.json");
  atomic_write_text(path, "old");
  EXPECT_EXIT(
      {
        crash_at(AtomicStage::BeforeRename);
        atomic_write_text(path, "new");
      },
      ::testing::ExitedWithCode(3), "");
  EXPECT_EQ(slurp(path), "old");
  // The crash happened with the new contents complete in the temporary, beside the target.
  const auto names = names_in(dir.path());
  ASSERT_EQ(names.size(), 2u);
  EXPECT_TRUE(starts_with(names[1], "a.json.tmp-")) << names[1];
  EXPECT_EQ(slurp(dir.file(names[1])), "new");
  // The next save works over the debris.
  atomic_write_text(path, "newer");
  EXPECT_EQ(slurp(path), "newer");
}

TEST(AtomicDirTest, ReplacesFolderAndCleansUp) {
  TempDir dir;
  const std::string final_dir = dir.file("ckpt");
  make_version(dir.file("tmp1"), "v1");
  atomic_replace_dir(dir.file("tmp1"), final_dir);
  EXPECT_EQ(slurp(final_dir + "/weights.txt"), "v1");
  make_version(dir.file("tmp2"), "v2");
  atomic_replace_dir(dir.file("tmp2"), final_dir + "/");  // a trailing slash names the same folder
  EXPECT_EQ(slurp(final_dir + "/weights.txt"), "v2");
  EXPECT_EQ(names_in(dir.path()), std::vector<std::string>{"ckpt"});
  EXPECT_EQ(atomic_resolve_dir(final_dir), final_dir);
}

TEST(AtomicDirTest, MissingSourceIsAnError) {
  TempDir dir;
  make_version(dir.file("ckpt"), "v1");
  EXPECT_THROW(atomic_replace_dir(dir.file("nope"), dir.file("ckpt")), Error);
  EXPECT_EQ(slurp(dir.file("ckpt/weights.txt")), "v1");
}

TEST(AtomicDirTest, ResolveErrors) {
  TempDir dir;
  try {
    atomic_resolve_dir(dir.file("ckpt"));
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("does not exist"), std::string::npos) << e.what();
  }
  make_version(dir.file("ckpt.old-1"), "a");
  make_version(dir.file("ckpt.old-2"), "b");
  try {
    atomic_resolve_dir(dir.file("ckpt"));
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("several"), std::string::npos) << e.what();
  }
}

TEST(AtomicDirTest, FoldersThatAreNotOursAreNeverDeleted) {
  TempDir dir;
  const std::string final_dir = dir.file("ckpt");
  // Named like our leftovers, but made by someone else (no pid 999999999 can be running).
  make_version(dir.file("ckpt.old-backup"), "mine");
  make_version(dir.file("ckpt.tmp-999999999-0"), "mine too");
  for (const char* v : {"v1", "v2", "v3"}) {
    make_version(dir.file("tmp"), v);
    atomic_replace_dir(dir.file("tmp"), final_dir);
  }
  atomic_remove_leftovers(final_dir);
  EXPECT_EQ(names_in(dir.path()), (std::vector<std::string>{"ckpt", "ckpt.old-backup", "ckpt.tmp-999999999-0"}));
  EXPECT_EQ(slurp(dir.file("ckpt.old-backup/weights.txt")), "mine");
  EXPECT_EQ(slurp(final_dir + "/weights.txt"), "v3");
}

TEST(AtomicDirDeathTest, TemporaryOfAKilledSaveIsDeletedNextTime) {
  TempDir dir;
  const std::string final_dir = dir.file("ckpt");
  EXPECT_EXIT(
      {
        make_version(atomic_make_tmp_dir(final_dir), "half written");
        std::_Exit(3);
      },
      ::testing::ExitedWithCode(3), "");
  auto names = names_in(dir.path());
  ASSERT_EQ(names.size(), 1u);
  EXPECT_TRUE(starts_with(names[0], "ckpt.tmp-")) << names[0];
  // A temporary of a live process (this one) may be a save in progress: it stays.
  const std::string live = atomic_make_tmp_dir(final_dir);
  atomic_remove_leftovers(final_dir);
  EXPECT_EQ(names_in(dir.path()), std::vector<std::string>{fs::path(live).filename().string()});
  make_version(live, "v1");
  atomic_replace_dir(live, final_dir);
  EXPECT_EQ(names_in(dir.path()), std::vector<std::string>{"ckpt"}) << "published without its marker";
  EXPECT_EQ(names_in(final_dir), std::vector<std::string>{"weights.txt"});
}

TEST(AtomicDirTest, RemoveTreeDeletesNestedFoldersButNotLinkTargets) {
  TempDir dir;
  make_version(dir.file("keep"), "kept");
  make_version(dir.file("gone/a/b"), "x");
  std::ofstream(dir.file("gone/top.txt")) << "y";
  fs::create_directory_symlink(dir.file("keep"), dir.file("gone/link"));
  EXPECT_TRUE(remove_tree(dir.file("gone")));
  EXPECT_FALSE(fs::exists(dir.file("gone")));
  EXPECT_EQ(slurp(dir.file("keep/weights.txt")), "kept");
  EXPECT_TRUE(remove_tree(dir.file("never-existed")));
}

TEST(AtomicDirDeathTest, CrashBeforeFirstRenameKeepsOldFolder) {
  TempDir dir;
  const std::string final_dir = dir.file("ckpt");
  make_version(final_dir, "v1");
  make_version(dir.file("tmp"), "v2");
  EXPECT_EXIT(
      {
        crash_at(AtomicStage::BeforeRename);
        atomic_replace_dir(dir.file("tmp"), final_dir);
      },
      ::testing::ExitedWithCode(3), "");
  EXPECT_EQ(atomic_resolve_dir(final_dir), final_dir);
  EXPECT_EQ(slurp(final_dir + "/weights.txt"), "v1");
}

TEST(AtomicDirDeathTest, CrashBetweenRenamesResolvesToOldFolder) {
  TempDir dir;
  const std::string final_dir = dir.file("ckpt");
  make_version(final_dir, "v1");
  make_version(dir.file("tmp"), "v2");
  EXPECT_EXIT(
      {
        crash_at(AtomicStage::BetweenRenames);
        atomic_replace_dir(dir.file("tmp"), final_dir);
      },
      ::testing::ExitedWithCode(3), "");
  EXPECT_FALSE(fs::exists(final_dir));
  const std::string resolved = atomic_resolve_dir(final_dir);
  EXPECT_TRUE(starts_with(resolved, final_dir + ".old-")) << resolved;
  EXPECT_EQ(slurp(resolved + "/weights.txt"), "v1");

  // The next save succeeds and removes the stale version.
  make_version(dir.file("tmp3"), "v3");
  atomic_replace_dir(dir.file("tmp3"), final_dir);
  EXPECT_EQ(slurp(atomic_resolve_dir(final_dir) + "/weights.txt"), "v3");
  EXPECT_EQ(names_in(dir.path()), (std::vector<std::string>{"ckpt", "tmp"}));
}

TEST(AtomicDirDeathTest, CrashBeforeRemovingOldResolvesToNewFolder) {
  TempDir dir;
  const std::string final_dir = dir.file("ckpt");
  make_version(final_dir, "v1");
  make_version(dir.file("tmp"), "v2");
  EXPECT_EXIT(
      {
        crash_at(AtomicStage::BeforeRemoveOld);
        atomic_replace_dir(dir.file("tmp"), final_dir);
      },
      ::testing::ExitedWithCode(3), "");
  EXPECT_EQ(atomic_resolve_dir(final_dir), final_dir);
  EXPECT_EQ(slurp(final_dir + "/weights.txt"), "v2");

  make_version(dir.file("tmp3"), "v3");
  atomic_replace_dir(dir.file("tmp3"), final_dir);
  EXPECT_EQ(names_in(dir.path()), std::vector<std::string>{"ckpt"});
  EXPECT_EQ(slurp(final_dir + "/weights.txt"), "v3");
}

}  // namespace
}  // namespace oryx::testing
