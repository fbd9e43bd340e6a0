// Deletes a file or a whole folder. Use this instead of std::filesystem::remove_all: the
// libtorch wheels export their own copy of remove_all, built against a newer libstdc++, and
// in any binary that links libtorch before libstdc++ that copy wins and jumps through a null
// weak symbol (recursive_directory_iterator::__erase, absent from GCC 12's libstdc++), so
// remove_all segfaults on any non-empty folder.
#pragma once
#include <string>

namespace oryx {

// Removes `path` and everything below it, without following symlinks. Never throws, so that
// destructors and best-effort cleanups can call it; returns whether nothing is left at `path`.
bool remove_tree(const std::string& path);

}  // namespace oryx
