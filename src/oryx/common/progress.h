// Progress bars for long work (tokenizing a corpus, training, evaluation sweeps), on stderr
// so that stdout stays clean for results. On a terminal one line is redrawn in place with
// '\r', at most ~10 times a second; in a log (not a TTY: CI, nohup, a pipe) '\r' would pile
// up into one enormous line, so a whole line is printed at most every 10 s and at finish.
// ORYX_NO_PROGRESS=1 silences every bar. With several processes (data parallel), only rank 0
// should make one.
#pragma once
#include <chrono>
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>

namespace oryx {

// What one progress line shows.
struct ProgressState {
  std::string label;
  int64_t done = 0;
  int64_t total = 0;  // <= 0: unknown, so no bar, percent or ETA
  int64_t start = 0;  // units already done when timing began (a resumed job); the rate and
                      // ETA count only done - start
  std::string unit = "it";
  double elapsed_s = 0;
  std::string extra;      // appended as is, e.g. "loss 3.21"
  bool finished = false;  // a finished line shows no ETA
};

// For example
//   "train [######..................] 1.20k/10.0k tok  12%  3.45k tok/s  elapsed 00:03  ETA 00:25  loss 3.21"
//   "prepare 1.20M tok  410k tok/s  elapsed 00:03"                                  (unknown total)
// The rate is done / elapsed; below one unit a second it is shown as seconds per unit
// ("12.5 s/step"); the ETA is (total - done) / rate.
std::string progress_format_line(const ProgressState& state);

// Three significant digits with a k, M, G or T suffix above 999: 950, 1.23k, 12.3M.
std::string progress_format_count(int64_t n);

// "MM:SS" below an hour, "H:MM:SS" above.
std::string progress_format_duration(double seconds);

struct ProgressOptions {
  double log_interval_s = 10.0;    // not a TTY: at most one line per interval, plus the final one
  double redraw_interval_s = 0.1;  // TTY: at most one redraw per interval, plus the final one
  std::ostream* out = nullptr;     // nullptr: std::cerr
  std::optional<bool> tty;         // unset: whether stderr is a terminal (tests force it)
  int64_t start = 0;               // units done before this bar started (ProgressState::start)
};

class ProgressBar {
 public:
  ProgressBar(std::string label, int64_t total, std::string unit = "it",
              ProgressOptions options = {});
  ~ProgressBar();
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  // `done` units of `total` are complete; cheap to call every step (it draws only when due).
  void update(int64_t done, const std::string& extra = "");
  // Draws the final line once; an empty `extra` keeps the last one given to update.
  void finish(const std::string& extra = "");

 private:
  void draw();

  ProgressState state_;
  ProgressOptions options_;
  std::ostream& out_;
  bool tty_;
  bool enabled_;
  int columns_ = 0;  // terminal width, 0 if unknown
  std::chrono::steady_clock::time_point start_;
  bool drawn_ = false;
  double last_draw_s_ = 0;
  size_t drawn_width_ = 0;
};

}  // namespace oryx
