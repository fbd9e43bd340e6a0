#include "oryx/train/plot.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <sstream>

#include "oryx/common/atomic_file.h"
#include "oryx/common/error.h"
#include "oryx/common/remove_tree.h"
#include "oryx/train/metrics.h"

extern char** environ;

namespace fs = std::filesystem;

namespace oryx {

namespace {

// gnuplot reads its script line by line and runs a line that starts with '!' as a shell
// command, so a newline inside a label would end the string and run what follows. Labels
// (run folders, schedule names, titles) therefore lose every control character; inside
// single quotes the quote itself is the only other special character, and it is doubled.
// Paths never appear in the script: gnuplot runs in a private folder on names we choose.
std::string label(const std::string& s) {
  std::string q = "'";
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) q += '?';
    else if (c == '\'') q += "''";
    else q += c;
  }
  return q + "'";
}

// The image type, from `out`'s extension: "png", "svg" or "pdf".
std::string image_type(const std::string& out) {
  std::string ext = fs::path(out).extension().string();
  for (auto& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (ext == ".png" || ext == ".svg" || ext == ".pdf") return ext.substr(1);
  ORYX_FAIL("plot ", out, ": cannot write ", ext.empty() ? "a file without extension" : "'" + ext + "' files",
            "; name it .png, .svg or .pdf");
}

std::string terminal_for(const std::string& type) {
  if (type == "svg") return "svg size 1000,640 noenhanced";
  if (type == "pdf") return "pdfcairo size 10in,6.4in noenhanced";
  return "pngcairo size 1000,640 noenhanced";
}

// A fresh folder only we can use (mkdtemp: a new random name, mode 0700), so that nobody
// can plant links where we write; removed with its contents on destruction.
class PrivateDir {
 public:
  PrivateDir() {
    const char* tmpdir = std::getenv("TMPDIR");
    path_ = std::string(tmpdir && *tmpdir ? tmpdir : "/tmp") + "/oryx-plot-XXXXXX";
    ORYX_CHECK(::mkdtemp(path_.data()), "plot: cannot create a temporary folder ", path_, ": ",
               std::strerror(errno));
  }
  ~PrivateDir() { remove_tree(path_); }
  PrivateDir(const PrivateDir&) = delete;
  PrivateDir& operator=(const PrivateDir&) = delete;

  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Creates `path`, which must not exist yet (O_EXCL), never through a link (O_NOFOLLOW).
void write_new_file(const std::string& path, const std::string& text) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  ORYX_CHECK(fd >= 0, "plot: cannot create ", path, ": ", std::strerror(errno));
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = errno;
      ::close(fd);
      ORYX_FAIL("plot: cannot write ", path, ": ", std::strerror(err));
    }
    done += static_cast<size_t>(n);
  }
  ORYX_CHECK(::close(fd) == 0, "plot: cannot write ", path, ": ", std::strerror(errno));
}

// The contents of `path` ("" if it cannot be read), never through a link.
std::string read_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return "";
  std::string text;
  char buf[65536];
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) != 0;) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    text.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return text;
}

// gnuplot's last message, on one line, for an error.
std::string last_message(const std::string& log) {
  std::string last, line;
  std::istringstream in(log);
  while (std::getline(in, line))
    if (line.find_first_not_of(" \t\r^") != std::string::npos) last = line;
  for (auto& c : last)
    if (static_cast<unsigned char>(c) < 0x20) c = ' ';
  return last.size() > 200 ? last.substr(0, 200) + "..." : last;
}

// Runs `gnuplot plot.gp` inside `dir` with its output in dir/gnuplot.log; returns the wait
// status. Without a pipe there is no SIGPIPE to fear when gnuplot is missing or dies.
int run_gnuplot(const PrivateDir& dir, const std::string& out) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addchdir_np(&actions, dir.path().c_str());
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "gnuplot.log",
                                   O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0600);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  char arg0[] = "gnuplot", arg1[] = "plot.gp";
  char* argv[] = {arg0, arg1, nullptr};
  pid_t pid = 0;
  const int rc = ::posix_spawnp(&pid, "gnuplot", &actions, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  ORYX_CHECK(rc == 0, "plot ", out, ": cannot run gnuplot (", std::strerror(rc),
             "); is it installed? (apt-get install gnuplot-nox)");
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0)
    ORYX_CHECK(errno == EINTR, "plot ", out, ": waiting for gnuplot failed: ", std::strerror(errno));
  return status;
}

}  // namespace

void plot_render(const PlotSpec& spec, const std::string& out) {
  ORYX_CHECK(!spec.series.empty(), "plot ", out, ": nothing to plot");
  const std::string type = image_type(out);
  PrivateDir dir;
  const std::string image = "plot." + type;
  std::string script = "set terminal " + terminal_for(type) + "\nset output " + label(image) + "\n";
  script += "set title " + label(spec.title) + "\nset xlabel " + label(spec.xlabel) + "\nset ylabel " +
            label(spec.ylabel) + "\nset grid\nset key outside right\n";
  if (spec.log_x) script += "set logscale x\n";
  script += "plot ";
  for (size_t i = 0; i < spec.series.size(); ++i) {
    const auto& s = spec.series[i];
    const std::string data = "s" + std::to_string(i) + ".dat";
    std::ostringstream points;
    points.precision(10);
    for (size_t k = 0; k < s.x.size() && k < s.y.size(); ++k) points << s.x[k] << " " << s.y[k] << "\n";
    write_new_file(dir.file(data), points.str());
    script += (i ? ", " : "") + label(data) + " using 1:2 with " + (spec.points ? "linespoints" : "lines") +
              " title " + label(s.name);
  }
  script += "\n";
  write_new_file(dir.file("plot.gp"), script);
  const int status = run_gnuplot(dir, out);
  const std::string bytes = read_file(dir.file(image));
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || bytes.empty()) {
    const std::string why = last_message(read_file(dir.file("gnuplot.log")));
    ORYX_FAIL("plot ", out, ": gnuplot failed (",
              WIFEXITED(status) ? "exit " + std::to_string(WEXITSTATUS(status)) : std::string("killed"), ")",
              why.empty() ? std::string() : ": " + why);
  }
  atomic_write_text(out, bytes);
}

void plot_metrics(const std::vector<std::string>& files, const std::string& out) {
  PlotSpec spec{"loss", "tokens", "loss (nats/token)", false, false, {}};
  for (const auto& file : files) {
    std::string run = fs::path(file).parent_path().filename().string();
    if (run.empty()) run = file;
    PlotSeries train{run + " train", {}, {}};
    std::map<std::string, PlotSeries> evals;
    for (const auto& r : metrics_read(file)) {
      // metrics_read checked the types; a null loss (a NaN) has no point to plot.
      auto has_number = [](const nlohmann::json& obj, const char* key) {
        return obj.contains(key) && obj[key].is_number();
      };
      double tokens = has_number(r, "tokens") ? r["tokens"].get<double>() : 0.0;
      if (r.value("kind", "") == "train" && has_number(r, "loss")) {
        train.x.push_back(tokens);
        train.y.push_back(r["loss"].get<double>());
      } else if (r.value("kind", "") == "eval" && r.contains("eval")) {
        for (const auto& [sched, v] : r["eval"].items()) {
          if (!has_number(v, "loss")) continue;
          auto& s = evals[sched];
          s.name = run + " val " + sched;
          s.x.push_back(tokens);
          s.y.push_back(v["loss"].get<double>());
        }
      }
    }
    if (!train.x.empty()) spec.series.push_back(train);
    for (auto& [_, s] : evals) spec.series.push_back(s);
  }
  plot_render(spec, out);
}

}  // namespace oryx
