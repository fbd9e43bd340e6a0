// Plots: a PNG, SVG or PDF is written through gnuplot, and a missing gnuplot is an error the
// caller can report, never a process killed by SIGPIPE (a study on a machine without gnuplot
// once died writing its report). Names from files never reach gnuplot as commands (a newline
// followed by '!' runs a shell command in a gnuplot script), and the temporary files are
// private: nobody can plant a link where they are written.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

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

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// A shell command that gnuplot would run if `text` reached its script as a line of its own:
// it creates `marker` (the trailing '#' comments out whatever follows on the line).
std::string injected(const std::string& marker) { return "\n!touch '" + marker + "' #"; }

TEST(Plot, NamesFromFilesNeverRunShellCommands) {
  TempDir dir;
  const std::string marker = dir.file("pwned");
  // A schedule name in a metrics file, a run folder name, and the output path.
  const std::string run = dir.file("run" + injected(marker));
  std::filesystem::create_directories(run);
  std::ofstream(run + "/metrics.jsonl")
      << R"({"kind":"train","step":1,"tokens":64,"loss":5.0})" << "\n"
      << nlohmann::json{{"kind", "eval"}, {"step", 1}, {"tokens", 64},
                        {"eval", {{"all-A" + injected(marker), {{"loss", 4.5}}}}}}.dump() << "\n";
  const std::string out = run + "/loss.png";
  plot_metrics({run + "/metrics.jsonl"}, out);
  EXPECT_FALSE(std::filesystem::exists(marker)) << "a name ran a shell command";
  EXPECT_GT(std::filesystem::file_size(out), 1000u);
  auto spec = many_series(1);
  spec.title = "t" + injected(marker);
  spec.xlabel = "x'y" + injected(marker);
  plot_render(spec, dir.file("q.png"));
  EXPECT_FALSE(std::filesystem::exists(marker)) << "a label ran a shell command";
}

TEST(Plot, PlantedLinksInTheTempFolderAreNotFollowed) {
  TempDir dir, tmp;
  const std::string victim = dir.file("victim.txt");
  std::ofstream(victim) << "keep";
  // Another user could prepare the folder a predictable name would give, with links in it.
  const std::string predictable = tmp.file("oryx-plot-" + std::to_string(::getpid()));
  std::filesystem::create_directories(predictable);
  for (const char* name : {"s0.dat", "s1.dat", "plot.gp", "plot.png", "gnuplot.log"})
    std::filesystem::create_symlink(victim, predictable + "/" + name);
  const std::string old_tmpdir = std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "";
  ::setenv("TMPDIR", tmp.path().c_str(), 1);
  plot_render(many_series(2), dir.file("p.png"));
  if (old_tmpdir.empty()) ::unsetenv("TMPDIR");
  else ::setenv("TMPDIR", old_tmpdir.c_str(), 1);
  EXPECT_EQ(slurp(victim), "keep");
  EXPECT_GT(std::filesystem::file_size(dir.file("p.png")), 1000u);
}

TEST(Plot, ImageTypeFollowsTheExtension) {
  TempDir dir;
  plot_render(many_series(2), dir.file("p.svg"));
  EXPECT_NE(slurp(dir.file("p.svg")).find("<svg"), std::string::npos);
  plot_render(many_series(2), dir.file("p.PDF"));
  EXPECT_EQ(slurp(dir.file("p.PDF")).substr(0, 5), "%PDF-");
  plot_render(many_series(2), dir.file("p.png"));
  EXPECT_EQ(slurp(dir.file("p.png")).substr(1, 3), "PNG");
  for (const char* bad : {"p.jpg", "p"}) {
    try {
      plot_render(many_series(2), dir.file(bad));
      ADD_FAILURE() << "accepted " << bad;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(".png, .svg or .pdf"), std::string::npos) << e.what();
    }
    EXPECT_FALSE(std::filesystem::exists(dir.file(bad)));
  }
}

}  // namespace
}  // namespace oryx::testing
