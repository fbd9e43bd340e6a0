#include "oryx/common/remove_tree.h"

#include <ftw.h>
#include <sys/stat.h>

#include <cstdio>

namespace oryx {
namespace {

int remove_entry(const char* path, const struct stat*, int, struct FTW*) {
  ::remove(path);  // a failure shows in the final check
  return 0;
}

}  // namespace

bool remove_tree(const std::string& path) {
  // FTW_DEPTH visits a folder's contents before the folder; FTW_PHYS does not follow links.
  ::nftw(path.c_str(), remove_entry, 16, FTW_DEPTH | FTW_PHYS);
  struct stat st;
  return ::lstat(path.c_str(), &st) != 0;
}

}  // namespace oryx
