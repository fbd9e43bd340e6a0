#include "oryx/study/jobs.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstring>
#include <iostream>
#include <map>

#include "oryx/common/error.h"
#include "oryx/common/progress.h"

extern char** environ;

namespace oryx {

namespace {

std::atomic<int> g_stop{0};

extern "C" void on_study_signal(int sig) { g_stop = sig; }

// The parent's environment with CUDA_VISIBLE_DEVICES and OMP_NUM_THREADS (when given) and
// ORYX_NO_PROGRESS=1 (the children's bars would only fill their log files) replaced.
std::vector<std::string> child_environment(const std::string& device, int64_t threads) {
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) {
    const std::string kv = *e;
    if (kv.rfind("ORYX_NO_PROGRESS=", 0) == 0) continue;
    if (!device.empty() && kv.rfind("CUDA_VISIBLE_DEVICES=", 0) == 0) continue;
    if (threads > 0 && kv.rfind("OMP_NUM_THREADS=", 0) == 0) continue;
    env.push_back(kv);
  }
  env.push_back("ORYX_NO_PROGRESS=1");
  if (!device.empty()) env.push_back("CUDA_VISIBLE_DEVICES=" + device);
  if (threads > 0) env.push_back("OMP_NUM_THREADS=" + std::to_string(threads));
  return env;
}

std::vector<char*> c_strings(std::vector<std::string>& v) {
  std::vector<char*> out;
  for (auto& s : v) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

pid_t spawn(Job& job, const std::string& device, int64_t threads) {
  ORYX_CHECK(!job.argv.empty(), "job ", job.name, " has no command");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, job.stdout_path.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, job.stderr_path.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  auto env = child_environment(device, threads);
  auto argv = c_strings(job.argv);
  auto envp = c_strings(env);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, job.argv[0].c_str(), &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  ORYX_CHECK(rc == 0, "job ", job.name, ": cannot start ", job.argv[0], ": ", std::strerror(rc));
  return pid;
}

std::string describe_status(int status) {
  if (WIFEXITED(status)) return "exit status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return std::string("killed by signal ") + strsignal(WTERMSIG(status));
  return "stopped";
}

}  // namespace

std::vector<JobResult> jobs_run(std::vector<Job>& jobs, const JobPoolOptions& options) {
  ORYX_CHECK(options.parallel >= 1, "parallel must be at least 1");
  enum class State { Pending, Running, Done };
  const size_t n = jobs.size();
  std::vector<State> state(n, State::Pending);
  std::vector<JobResult> results(n);
  std::vector<std::chrono::steady_clock::time_point> started(n);
  std::map<pid_t, size_t> running;                      // pid -> job
  std::vector<int> slot_of(n, -1);
  std::vector<bool> slot_busy(static_cast<size_t>(options.parallel), false);

  // No SA_RESTART: a signal must interrupt waitpid so that it is passed on at once.
  g_stop = 0;
  struct sigaction act {}, old_int {}, old_term {};
  act.sa_handler = on_study_signal;
  sigemptyset(&act.sa_mask);
  sigaction(SIGINT, &act, &old_int);
  sigaction(SIGTERM, &act, &old_term);
  bool forwarded = false;

  ProgressOptions popts;
  ProgressBar bar("study", static_cast<int64_t>(n), "job", popts);
  int64_t done = 0;
  auto finish = [&](size_t i, bool ok, std::string error) {
    state[i] = State::Done;
    results[i].ok = ok;
    results[i].error = std::move(error);
    ++done;
    if (!ok) std::cerr << "\n[study] " << jobs[i].name << " FAILED: " << results[i].error << "\n";
  };

  while (done < static_cast<int64_t>(n)) {
    // Launch what can run.
    for (size_t i = 0; i < n && !g_stop; ++i) {
      if (state[i] != State::Pending) continue;
      const int dep = jobs[i].after;
      if (dep >= 0 && state[dep] != State::Done) continue;
      if (dep >= 0 && !results[dep].ok) {
        finish(i, false, "not run: " + jobs[dep].name + " failed");
        continue;
      }
      int slot = -1;
      for (size_t s = 0; s < slot_busy.size(); ++s)
        if (!slot_busy[s]) { slot = static_cast<int>(s); break; }
      if (slot < 0) break;
      const std::string device =
          options.devices.empty() ? "" : options.devices[static_cast<size_t>(slot) % options.devices.size()];
      pid_t pid = 0;
      try {
        pid = spawn(jobs[i], device, options.threads_per_job);
      } catch (const Error& e) {  // e.g. an unwritable log folder: this job fails, not the pool
        finish(i, false, e.what());
        continue;
      }
      slot_busy[slot] = true;
      slot_of[i] = slot;
      running[pid] = i;
      state[i] = State::Running;
      started[i] = std::chrono::steady_clock::now();
    }
    if (g_stop) {
      if (!forwarded) {
        for (auto& [pid, i] : running) ::kill(pid, g_stop.load());
        forwarded = true;
      }
      for (size_t i = 0; i < n; ++i)
        if (state[i] == State::Pending) finish(i, false, "interrupted");
    }
    if (running.empty()) {
      ORYX_CHECK(done == static_cast<int64_t>(n) || g_stop, "study: jobs wait on each other (a dependency cycle)");
      continue;
    }
    std::string names;
    for (auto& [pid, i] : running) names += (names.empty() ? "" : ", ") + jobs[i].name;
    bar.update(done, "running: " + names);

    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, 0);
    if (pid < 0) {
      ORYX_CHECK(errno == EINTR, "study: waitpid failed: ", std::strerror(errno));
      continue;  // a signal: the loop forwards it
    }
    auto it = running.find(pid);
    if (it == running.end()) continue;
    const size_t i = it->second;
    running.erase(it);
    slot_busy[slot_of[i]] = false;
    results[i].seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started[i]).count();
    const bool exited_ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (!exited_ok) {
      finish(i, false, (g_stop ? "interrupted, " : "") + describe_status(status) + "; log " + jobs[i].stderr_path);
      continue;
    }
    try {
      if (jobs[i].on_success) jobs[i].on_success();
      finish(i, true, "");
    } catch (const Error& e) {
      finish(i, false, e.what());
    }
  }
  bar.finish(g_stop ? "interrupted" : "");
  sigaction(SIGINT, &old_int, nullptr);
  sigaction(SIGTERM, &old_term, nullptr);
  return results;
}

}  // namespace oryx
