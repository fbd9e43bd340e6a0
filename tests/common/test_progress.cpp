// The progress bar: the pure formatting (counts, durations, rate and ETA arithmetic) checked
// to the character, then the drawing policy (TTY redraws in place, logs get whole lines at a
// bounded rate, ORYX_NO_PROGRESS silences) on a captured stream.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <sstream>

#include "oryx/common/progress.h"

namespace oryx::testing {
namespace {

TEST(ProgressTest, FormatsCounts) {
  EXPECT_EQ(progress_format_count(0), "0");
  EXPECT_EQ(progress_format_count(950), "950");
  EXPECT_EQ(progress_format_count(999), "999");
  EXPECT_EQ(progress_format_count(1000), "1.00k");
  EXPECT_EQ(progress_format_count(1234), "1.23k");
  EXPECT_EQ(progress_format_count(12345), "12.3k");
  EXPECT_EQ(progress_format_count(123456), "123k");
  EXPECT_EQ(progress_format_count(999499), "999k");
  EXPECT_EQ(progress_format_count(999500), "1.00M");  // not "1000k"
  EXPECT_EQ(progress_format_count(12300000), "12.3M");
  EXPECT_EQ(progress_format_count(4500000000), "4.50G");
  EXPECT_EQ(progress_format_count(2000000000000), "2.00T");
}

TEST(ProgressTest, FormatsDurations) {
  EXPECT_EQ(progress_format_duration(0), "00:00");
  EXPECT_EQ(progress_format_duration(59.9), "00:59");
  EXPECT_EQ(progress_format_duration(61), "01:01");
  EXPECT_EQ(progress_format_duration(3599), "59:59");
  EXPECT_EQ(progress_format_duration(3600), "1:00:00");
  EXPECT_EQ(progress_format_duration(3725), "1:02:05");
  EXPECT_EQ(progress_format_duration(90000), "25:00:00");
  EXPECT_EQ(progress_format_duration(-3), "00:00");
}

ProgressState state(int64_t done, int64_t total, const std::string& unit, double elapsed) {
  ProgressState s;
  s.label = "train";
  s.done = done;
  s.total = total;
  s.unit = unit;
  s.elapsed_s = elapsed;
  return s;
}

TEST(ProgressTest, LineWithKnownTotal) {
  // 1200 tok in 2 s: 600 tok/s; 8800 left take 14.7 s; 12% fills 2 of 24 cells.
  ProgressState s = state(1200, 10000, "tok", 2.0);
  s.extra = "loss 3.21";
  EXPECT_EQ(progress_format_line(s),
            "train [##......................] 1.20k/10.0k tok  12%  600 tok/s  elapsed 00:02  "
            "ETA 00:14  loss 3.21");
}

TEST(ProgressTest, LineWithUnknownTotal) {
  ProgressState s = state(1500000, 0, "tok", 3.0);
  s.label = "prepare";
  EXPECT_EQ(progress_format_line(s), "prepare 1.50M tok  500k tok/s  elapsed 00:03");
}

TEST(ProgressTest, SlowRateIsSecondsPerUnit) {
  // 2 steps in 25 s: 12.5 s/step, 8 steps left take 100 s.
  EXPECT_EQ(progress_format_line(state(2, 10, "step", 25.0)),
            "train [####....................] 2/10 step  20%  12.5 s/step  elapsed 00:25  ETA 01:40");
}

TEST(ProgressTest, LineAtStartFinishedAndOvershoot) {
  EXPECT_EQ(progress_format_line(state(0, 10, "it", 0.0)),
            "train [........................] 0/10 it  0%  ? it/s  elapsed 00:00  ETA ?");
  EXPECT_EQ(progress_format_line(state(0, 10, "it", 5.0)),
            "train [........................] 0/10 it  0%  0.00 it/s  elapsed 00:05  ETA ?");
  ProgressState done = state(10, 10, "it", 4.0);
  done.finished = true;
  EXPECT_EQ(progress_format_line(done),
            "train [########################] 10/10 it  100%  2.50 it/s  elapsed 00:04");
  EXPECT_EQ(progress_format_line(state(12, 10, "it", 4.0)),
            "train [########################] 12/10 it  100%  3.00 it/s  elapsed 00:04  ETA 00:00");
}

size_t count(const std::string& s, char c) { return std::count(s.begin(), s.end(), c); }

ProgressOptions captured(std::ostringstream& out, bool tty) {
  ProgressOptions o;
  o.out = &out;
  o.tty = tty;
  o.log_interval_s = 3600;
  o.redraw_interval_s = 3600;
  return o;
}

TEST(ProgressTest, LogModePrintsFirstThrottledAndFinalLines) {
  std::ostringstream out;
  {
    ProgressBar bar("eval", 10, "batch", captured(out, false));
    bar.update(1, "a");
    bar.update(2, "b");  // within the interval: not printed
    bar.update(3, "c");
    bar.finish();
    bar.finish("ignored");  // finishing twice prints nothing
    bar.update(4);
  }
  const std::string s = out.str();
  EXPECT_EQ(count(s, '\n'), 2u) << s;
  EXPECT_EQ(count(s, '\r'), 0u) << s;
  EXPECT_NE(s.find("1/10 batch"), std::string::npos) << s;
  EXPECT_EQ(s.find("2/10 batch"), std::string::npos) << s;
  EXPECT_NE(s.find("3/10 batch"), std::string::npos) << s;
  EXPECT_NE(s.find("  c\n"), std::string::npos) << "finish() keeps the last extra: " << s;
}

TEST(ProgressTest, LogModeWithZeroIntervalPrintsEveryUpdate) {
  std::ostringstream out;
  ProgressOptions o = captured(out, false);
  o.log_interval_s = 0;
  ProgressBar bar("eval", 0, "it", o);
  for (int i = 1; i <= 5; ++i) bar.update(i);
  bar.finish("done");
  EXPECT_EQ(count(out.str(), '\n'), 6u) << out.str();
}

TEST(ProgressTest, TtyModeRedrawsOneLine) {
  std::ostringstream out;
  ProgressOptions o = captured(out, true);
  o.redraw_interval_s = 0;
  {
    ProgressBar bar("train", 100, "step", o);
    bar.update(1, "a much longer extra text");
    bar.update(2);
    bar.finish();
  }
  const std::string s = out.str();
  EXPECT_EQ(count(s, '\r'), 3u) << s;
  EXPECT_EQ(count(s, '\n'), 1u) << s;
  EXPECT_EQ(s.back(), '\n');
  // Each redraw covers the previous, longer line with spaces.
  const size_t first = s.find('\r', 1), second = s.find('\r', first + 1);
  EXPECT_EQ(second - first, first) << s;
}

TEST(ProgressTest, TtyModeThrottlesAndEndsAnUnfinishedLine) {
  std::ostringstream out;
  {
    ProgressBar bar("train", 100, "step", captured(out, true));
    bar.update(1);
    bar.update(2);
  }
  EXPECT_EQ(count(out.str(), '\r'), 1u) << out.str();
  EXPECT_EQ(out.str().back(), '\n');
}

TEST(ProgressTest, EnvironmentVariableSilences) {
  std::ostringstream out;
  ::setenv("ORYX_NO_PROGRESS", "1", 1);
  {
    ProgressBar bar("train", 10, "it", captured(out, true));
    bar.update(5);
    bar.finish();
  }
  ::unsetenv("ORYX_NO_PROGRESS");
  EXPECT_EQ(out.str(), "");
}

}  // namespace
}  // namespace oryx::testing
