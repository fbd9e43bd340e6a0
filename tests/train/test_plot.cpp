// Plots: a PNG is written through gnuplot, and a missing gnuplot is an error the caller can
// report, never a process killed by SIGPIPE (a study on a machine without gnuplot once died
// writing its report).
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "oryx/common/error.h"
#include "oryx/train/plot.h"
#include "support/temp_dir.h"

namespace oryx::testing {
namespace {

PlotSpec many_series(int64_t n) {
  PlotSpec spec{"t", "x", "y", false, true, {}};
  for (int64_t i = 0; i < n; ++i) spec.series.push_back({"series " + std::to_string(i), {0.0, 1.0}, {1.0, 0.5}});
  return spec;
}

TEST(Plot, WritesAPng) {
  TempDir dir;
  plot_render(many_series(2), dir.file("p.png"));
  EXPECT_GT(std::filesystem::file_size(dir.file("p.png")), 1000u);
}

TEST(Plot, MissingGnuplotIsAnErrorNotASignal) {
  TempDir dir, empty_path;
  const std::string old_path = std::getenv("PATH") ? std::getenv("PATH") : "";
  ::setenv("PATH", empty_path.path().c_str(), 1);
  // Thousands of series make a script larger than a pipe's buffer, so the write meets a
  // reader that has exited: without care, SIGPIPE.
  EXPECT_THROW(plot_render(many_series(3000), dir.file("p.png")), Error);
  ::setenv("PATH", old_path.c_str(), 1);
  EXPECT_FALSE(std::filesystem::exists(dir.file("p.png")));
}

}  // namespace
}  // namespace oryx::testing
