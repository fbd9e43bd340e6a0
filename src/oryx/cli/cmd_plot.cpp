// oryx plot: loss curves (training and validation per schedule) from metrics files, as a
// PNG, SVG or PDF chosen by the --out extension.
#include "oryx/cli/commands.h"
#include "oryx/train/plot.h"

namespace oryx::cli {

void register_plot(CLI::App& app) {
  struct Options {
    std::vector<std::string> files;
    std::string out = "loss.png";
  };
  auto o = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("plot", "Plot loss curves from metrics.jsonl files to a PNG, SVG or PDF");
  cmd->footer("Example: oryx plot runs/out/a/metrics.jsonl runs/out/b/metrics.jsonl --out loss.png");
  cmd->add_option("metrics", o->files, "metrics.jsonl files")->required()->check(CLI::ExistingFile);
  cmd->add_option("--out", o->out, "Image to write: .png, .svg or .pdf")->capture_default_str();
  cmd->callback([o] { plot_metrics(o->files, o->out); });
}

}  // namespace oryx::cli
