// A fresh folder under the system temp dir for tests that write files, removed with its
// contents when the object goes out of scope. The name carries the pid and a random part so
// that parallel test processes (ctest -j) never share one.
#pragma once
#include <unistd.h>

#include <filesystem>
#include <random>
#include <string>

#include "oryx/common/remove_tree.h"

namespace oryx::testing {

class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path() /
            ("oryx-test-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { remove_tree(path_.string()); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  // The path of `name` inside the folder.
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

}  // namespace oryx::testing
