#include "oryx/common/progress.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>

namespace oryx {
namespace {

constexpr int kBarWidth = 24;

// Three significant digits; `v` is below 999.5 after the caller scaled it.
std::string format_3_digits(double v) {
  char buf[32];
  const char* fmt = v < 9.995 ? "%.2f" : v < 99.95 ? "%.1f" : "%.0f";
  std::snprintf(buf, sizeof(buf), fmt, v);
  return buf;
}

// 1234.5 -> "1.23k"; below 1000 three significant digits.
std::string format_si(double v) {
  static const char* kSuffix[] = {"", "k", "M", "G", "T"};
  size_t i = 0;
  // 999.5 and above would round to "1000", so they move to the next suffix.
  while (v >= 999.5 && i + 1 < std::size(kSuffix)) {
    v /= 1000;
    ++i;
  }
  return format_3_digits(v) + kSuffix[i];
}

// "3.45k tok/s", or "12.5 s/step" when a unit takes longer than a second.
std::string format_rate(double per_s, const std::string& unit) {
  if (per_s > 0 && per_s < 1) return format_si(1 / per_s) + " s/" + unit;
  return format_si(per_s) + " " + unit + "/s";
}

bool progress_disabled_by_env() {
  const char* v = std::getenv("ORYX_NO_PROGRESS");
  return v && *v && std::strcmp(v, "0") != 0;
}

}  // namespace

std::string progress_format_count(int64_t n) {
  return n < 1000 && n > -1000 ? std::to_string(n) : format_si(static_cast<double>(n));
}

std::string progress_format_duration(double seconds) {
  const auto s = static_cast<int64_t>(std::max(0.0, std::floor(seconds)));
  char buf[48];
  if (s < 3600)
    std::snprintf(buf, sizeof(buf), "%02lld:%02lld", static_cast<long long>(s / 60),
                  static_cast<long long>(s % 60));
  else
    std::snprintf(buf, sizeof(buf), "%lld:%02lld:%02lld", static_cast<long long>(s / 3600),
                  static_cast<long long>(s / 60 % 60), static_cast<long long>(s % 60));
  return buf;
}

std::string progress_format_line(const ProgressState& st) {
  const bool known_total = st.total > 0;
  std::string line = st.label;
  if (known_total) {
    const int64_t shown = std::clamp<int64_t>(st.done, 0, st.total);
    const auto filled = static_cast<int>(kBarWidth * static_cast<double>(shown) / st.total);
    line += " [" + std::string(filled, '#') + std::string(kBarWidth - filled, '.') + "]";
    line += " " + progress_format_count(st.done) + "/" + progress_format_count(st.total) + " " +
            st.unit;
    line += "  " + std::to_string(100 * shown / st.total) + "%";
  } else {
    line += " " + progress_format_count(st.done) + " " + st.unit;
  }
  const double rate = st.elapsed_s > 0 ? (st.done - st.start) / st.elapsed_s : -1;
  line += "  " + (rate >= 0 ? format_rate(rate, st.unit) : "? " + st.unit + "/s");
  line += "  elapsed " + progress_format_duration(st.elapsed_s);
  if (known_total && !st.finished) {
    const int64_t left = std::max<int64_t>(st.total - st.done, 0);
    line += "  ETA " + (left == 0 ? progress_format_duration(0)
                        : rate > 0 ? progress_format_duration(left / rate)
                                   : std::string("?"));
  }
  if (!st.extra.empty()) line += "  " + st.extra;
  return line;
}

ProgressBar::ProgressBar(std::string label, int64_t total, std::string unit,
                         ProgressOptions options)
    : options_(std::move(options)),
      out_(options_.out ? *options_.out : std::cerr),
      tty_(options_.tty.value_or(::isatty(STDERR_FILENO) == 1)),
      enabled_(!progress_disabled_by_env()),
      start_(std::chrono::steady_clock::now()) {
  state_.label = std::move(label);
  state_.total = total;
  state_.start = options_.start;
  state_.done = options_.start;
  state_.unit = std::move(unit);
  winsize ws{};
  if (tty_ && !options_.out && ::ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0) columns_ = ws.ws_col;
}

ProgressBar::~ProgressBar() {
  // An unfinished bar (an exception unwinding) must not leave the cursor mid-line.
  if (enabled_ && tty_ && drawn_ && !state_.finished) out_ << '\n' << std::flush;
}

void ProgressBar::update(int64_t done, const std::string& extra) {
  if (!enabled_ || state_.finished) return;
  state_.done = done;
  state_.extra = extra;
  const double now =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double interval = tty_ ? options_.redraw_interval_s : options_.log_interval_s;
  if (drawn_ && now - last_draw_s_ < interval) return;
  draw();
}

void ProgressBar::finish(const std::string& extra) {
  if (!enabled_ || state_.finished) return;
  state_.finished = true;
  if (!extra.empty()) state_.extra = extra;
  draw();
  if (tty_) out_ << '\n' << std::flush;
}

void ProgressBar::draw() {
  last_draw_s_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  state_.elapsed_s = last_draw_s_;
  std::string line = progress_format_line(state_);
  drawn_ = true;
  if (!tty_) {
    out_ << line << '\n' << std::flush;
    return;
  }
  // A line that wraps cannot be redrawn with '\r'; one shorter than the last must blank it out.
  if (columns_ > 1 && line.size() >= static_cast<size_t>(columns_)) line.resize(columns_ - 1);
  const size_t width = line.size();
  if (width < drawn_width_) line.append(drawn_width_ - width, ' ');
  drawn_width_ = width;
  out_ << '\r' << line << std::flush;
}

}  // namespace oryx
