// Plots through gnuplot (Debian's gnuplot-nox; the setup script installs it): training and
// validation loss curves from metrics files, and generic line plots for studies (for example
// retrieval accuracy against attention fraction). Labels may come from files (run folders,
// schedule names) and are sanitised; gnuplot only ever sees file names we chose, inside a
// private temporary folder.
#pragma once
#include <string>
#include <vector>

namespace oryx {

struct PlotSeries {
  std::string name;
  std::vector<double> x, y;
};

struct PlotSpec {
  std::string title, xlabel, ylabel;
  bool log_x = false;
  bool points = false;  // markers on the lines (few points per series)
  std::vector<PlotSeries> series;
};

// Renders `spec` to `out`, a PNG, SVG or PDF by its extension (.png, .svg, .pdf; any other is
// an error); throws oryx::Error if gnuplot is missing or fails.
void plot_render(const PlotSpec& spec, const std::string& out);

// Loss against tokens for each metrics.jsonl: its training loss and every evaluated
// schedule's validation loss; series are named after each file's run folder.
void plot_metrics(const std::vector<std::string>& metrics_files, const std::string& out);

}  // namespace oryx
