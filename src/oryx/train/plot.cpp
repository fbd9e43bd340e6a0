#include "oryx/train/plot.h"

#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>

#include "oryx/common/error.h"
#include "oryx/common/remove_tree.h"
#include "oryx/train/metrics.h"

namespace fs = std::filesystem;

namespace oryx {

namespace {

// gnuplot strings are single-quoted; a quote inside is doubled.
std::string quoted(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("''") : std::string(1, c);
  return q + "'";
}

// While alive, writing to a pipe whose reader is gone fails with EPIPE instead of killing the
// process with SIGPIPE: when gnuplot is missing or dies, the shell exits without reading
// the script, and the error belongs in pclose's status, not in a dead study or trainer.
class IgnoreSigpipe {
 public:
  IgnoreSigpipe() : old_(std::signal(SIGPIPE, SIG_IGN)) {}
  ~IgnoreSigpipe() { std::signal(SIGPIPE, old_); }

 private:
  void (*old_)(int);
};

}  // namespace

void plot_render(const PlotSpec& spec, const std::string& out) {
  ORYX_CHECK(!spec.series.empty(), "plot ", out, ": nothing to plot");
  auto dir = fs::temp_directory_path() / ("oryx-plot-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::string script = "set terminal pngcairo size 1000,640 noenhanced\n";
  script += "set output " + quoted(out) + "\n";
  script += "set title " + quoted(spec.title) + "\nset xlabel " + quoted(spec.xlabel) + "\nset ylabel " +
            quoted(spec.ylabel) + "\nset grid\nset key outside right\n";
  if (spec.log_x) script += "set logscale x\n";
  script += "plot ";
  for (size_t i = 0; i < spec.series.size(); ++i) {
    const auto& s = spec.series[i];
    auto data = dir / ("s" + std::to_string(i) + ".dat");
    std::ofstream f(data);
    for (size_t k = 0; k < s.x.size(); ++k) f << s.x[k] << " " << s.y[k] << "\n";
    script += (i ? ", " : "") + quoted(data.string()) + " using 1:2 with " +
              (spec.points ? "linespoints" : "lines") + " title " + quoted(s.name);
  }
  script += "\n";
  std::string cmd = "gnuplot 2>&1";
  IgnoreSigpipe no_sigpipe;
  FILE* p = ::popen(cmd.c_str(), "w");
  ORYX_CHECK(p, "plot: cannot start gnuplot");
  std::fwrite(script.data(), 1, script.size(), p);
  int rc = ::pclose(p);
  remove_tree(dir.string());
  ORYX_CHECK(rc == 0, "plot ", out, ": gnuplot failed (exit ", rc,
             "); is it installed? (apt-get install gnuplot-nox)");
}

void plot_metrics(const std::vector<std::string>& files, const std::string& out) {
  PlotSpec spec{"loss", "tokens", "loss (nats/token)", false, false, {}};
  for (const auto& file : files) {
    std::string run = fs::path(file).parent_path().filename().string();
    if (run.empty()) run = file;
    PlotSeries train{run + " train", {}, {}};
    std::map<std::string, PlotSeries> evals;
    for (const auto& r : metrics_read(file)) {
      double tokens = r.value("tokens", 0.0);
      if (r.value("kind", "") == "train") {
        train.x.push_back(tokens);
        train.y.push_back(r.value("loss", 0.0));
      } else if (r.value("kind", "") == "eval" && r.contains("eval")) {
        for (const auto& [sched, v] : r["eval"].items()) {
          auto& s = evals[sched];
          s.name = run + " val " + sched;
          s.x.push_back(tokens);
          s.y.push_back(v.value("loss", 0.0));
        }
      }
    }
    if (!train.x.empty()) spec.series.push_back(train);
    for (auto& [_, s] : evals) spec.series.push_back(s);
  }
  plot_render(spec, out);
}

}  // namespace oryx
