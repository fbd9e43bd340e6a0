// Data-parallel training on the CPU (Gloo), through the CLI as a user runs it: two processes
// with batch size B train as one process with batch size 2B does, step by step, for a
// Transformer, an Oryx-GDN and an Oryx-Mamba-2 model (with gradient accumulation and a short
// last step that leaves one rank without rows); a two-process run interrupted and resumed
// equals the uninterrupted one; a resume with another process count is refused; and failures
// (a killed worker, SIGTERM to the launcher, a rendezvous that never completes, a port in
// use) end every process with one line, never a hang.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "support/models.h"
#include "support/temp_dir.h"
#include "train/train_fixture.h"

namespace oryx::testing {
namespace {

// fp32 on the CPU: the two-process all-reduce sums the halves of every gradient in another
// order than one process does, so losses agree to rounding, compounded over the steps.
constexpr double kLossTolerance = 2e-5;

std::string train_args(const std::string& config, const std::string& out, int64_t seqs, int64_t batch,
                       int64_t accum = 1) {
  return "train --config " + shipped_config_path(config) + " --data " + synthetic_dataset_dir() + " --out " + out +
         " --tokens " + std::to_string(seqs * 64) + " --batch-size " + std::to_string(batch) + " --grad-accum " +
         std::to_string(accum) + " --seq-len 64 --lr 3e-3 --log-every 1 --eval-windows 2 --threads 1 --device cpu";
}

// The training losses of <run>/metrics.jsonl, in step order.
std::vector<double> train_losses(const std::string& run) {
  std::ifstream in(run + "/metrics.jsonl");
  std::vector<double> losses;
  std::string line;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line);
    if (j["kind"] == "train") losses.push_back(j["loss"].get<double>());
  }
  return losses;
}

void expect_same_losses(const std::vector<double>& a, const std::vector<double>& b, double tol) {
  ASSERT_EQ(a.size(), b.size());
  ASSERT_FALSE(a.empty());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], tol) << "step " << i + 1;
}

struct Case {
  const char* config;
  int64_t accum;
};

class TwoProcesses : public ::testing::TestWithParam<Case> {};

TEST_P(TwoProcesses, TrainAsOneProcessWithTheSameGlobalBatch) {
  const Case c = GetParam();
  TempDir dir;
  // 4 sequences per micro-batch over both ranks; 3 full steps, then one sequence, which rank 1
  // has no part of.
  const int64_t seqs = 3 * 4 * c.accum + 1;
  auto one = run_cli(train_args(c.config, dir.file("one"), seqs, 4, c.accum), 300);
  ASSERT_EQ(one.exit_code, 0) << one.err;
  auto two = run_cli(train_args(c.config, dir.file("two"), seqs, 2, c.accum) + " --nproc-per-node 2 --json", 300);
  ASSERT_EQ(two.exit_code, 0) << two.err;
  // Only rank 0 reports, writes metrics and checkpoints.
  auto summary = nlohmann::json::parse(two.out);
  EXPECT_EQ(summary["tokens"].get<int64_t>(), seqs * 64);
  EXPECT_TRUE(std::filesystem::exists(dir.file("two/final")));
  const auto a = train_losses(dir.file("one")), b = train_losses(dir.file("two"));
  EXPECT_EQ(a.size(), 4u);
  expect_same_losses(a, b, kLossTolerance);
}

INSTANTIATE_TEST_SUITE_P(Models, TwoProcesses,
                         ::testing::Values(Case{"transformer-tiny", 1}, Case{"oryx-gdn-tiny", 2},
                                           Case{"oryx-mamba2-tiny", 1}),
                         [](const auto& info) {
                           std::string n = info.param.config;
                           for (auto& ch : n)
                             if (ch == '-') ch = '_';
                           return n + "_accum" + std::to_string(info.param.accum);
                         });

TEST(Distributed, TwoProcessResumeEqualsTheUninterruptedRunAndRefusesAnotherProcessCount) {
  TempDir dir;
  const std::string whole = train_args("oryx-gdn-tiny", dir.file("whole"), 24, 2) + " --nproc-per-node 2";
  const std::string sliced = train_args("oryx-gdn-tiny", dir.file("sliced"), 24, 2);
  ASSERT_EQ(run_cli(whole, 300).exit_code, 0);
  ASSERT_EQ(run_cli(sliced + " --nproc-per-node 2 --max-steps 2", 300).exit_code, 0);
  // One process cannot continue a two-process run: its steps would hold half the sequences.
  auto refused = run_cli(sliced + " --resume", 300);
  EXPECT_EQ(refused.exit_code, 2) << refused.err;
  EXPECT_NE(refused.err.find("trained by 2 process(es), this one has 1"), std::string::npos) << refused.err;
  auto resumed = run_cli(sliced + " --nproc-per-node 2 --resume", 300);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  expect_same_losses(train_losses(dir.file("whole")), train_losses(dir.file("sliced")), 1e-9);
}

// Starts `oryx args` in the background (stdout and stderr to files), in a process group of its
// own as a shell starts a foreground job; returns its pid (= the group's id).
pid_t spawn_cli(const std::string& args, const std::string& out, const std::string& err) {
  pid_t pid = ::fork();
  if (pid == 0) {
    ::setpgid(0, 0);
    const std::string cmd = "exec " + std::string(ORYX_CLI_PATH) + " " + args + " >" + out + " 2>" + err;
    ::execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  return pid;
}

// Waits up to `seconds` for `pid` to end; its exit code, 128 + signal if killed, or -1 on timeout
// (the process is then killed).
int wait_exit(pid_t pid, int seconds) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (std::chrono::steady_clock::now() < until) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid)
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
  return -1;
}

// The launcher's workers (its child processes), from /proc.
std::vector<pid_t> children_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) + "/children");
  std::vector<pid_t> kids;
  pid_t k;
  while (in >> k) kids.push_back(k);
  return kids;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Waits until the run has logged `steps` training steps (both workers are then training).
bool wait_for_steps(const std::string& run, size_t steps, int seconds) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (std::chrono::steady_clock::now() < until) {
    if (train_losses(run).size() >= steps) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

TEST(Distributed, AKilledWorkerEndsTheRunWithOneLine) {
  TempDir dir;
  // A budget far beyond the test: the run must end because a worker died.
  pid_t launcher = spawn_cli(train_args("transformer-tiny", dir.file("run"), 100000, 2) + " --nproc-per-node 2",
                             dir.file("out"), dir.file("err"));
  ASSERT_TRUE(wait_for_steps(dir.file("run"), 2, 120)) << slurp(dir.file("err"));
  auto workers = children_of(launcher);
  ASSERT_EQ(workers.size(), 2u);
  ::kill(workers[1], SIGKILL);
  const int code = wait_exit(launcher, 60);
  EXPECT_NE(code, 0);
  EXPECT_NE(code, -1) << "the launcher did not end within 60 s";
  const std::string err = slurp(dir.file("err"));
  EXPECT_NE(err.find("worker 1 (pid " + std::to_string(workers[1]) + ") was killed by signal 9"), std::string::npos)
      << err;
  // No worker outlives the launcher.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_NE(::kill(workers[0], 0), 0);
}

TEST(Distributed, SigtermToTheLauncherSavesOneCheckpointAndStopsEveryWorker) {
  TempDir dir;
  pid_t launcher = spawn_cli(train_args("transformer-tiny", dir.file("run"), 100000, 2) + " --nproc-per-node 2",
                             dir.file("out"), dir.file("err"));
  ASSERT_TRUE(wait_for_steps(dir.file("run"), 2, 120)) << slurp(dir.file("err"));
  ::kill(launcher, SIGTERM);
  EXPECT_EQ(wait_exit(launcher, 120), 128 + SIGTERM) << slurp(dir.file("err"));
  EXPECT_TRUE(std::filesystem::exists(dir.file("run/ckpt/trainer.json"))) << slurp(dir.file("err"));
  EXPECT_NE(slurp(dir.file("out")).find("interrupted"), std::string::npos) << slurp(dir.file("out"));
}

// Ctrl-C at a terminal signals the whole foreground process group: the workers, in groups of
// their own, must not get it besides the launcher's SIGTERM (two signals would kill them
// before their checkpoint).
TEST(Distributed, CtrlCToTheForegroundGroupSavesOneCheckpoint) {
  TempDir dir;
  pid_t launcher = spawn_cli(train_args("transformer-tiny", dir.file("run"), 100000, 2) + " --nproc-per-node 2",
                             dir.file("out"), dir.file("err"));
  ASSERT_TRUE(wait_for_steps(dir.file("run"), 2, 120)) << slurp(dir.file("err"));
  ::kill(-launcher, SIGINT);
  EXPECT_EQ(wait_exit(launcher, 120), 128 + SIGINT) << slurp(dir.file("err"));
  EXPECT_TRUE(std::filesystem::exists(dir.file("run/ckpt/trainer.json"))) << slurp(dir.file("err"));
}

// A free port on 127.0.0.1, or, with `hold`, one this process keeps listening on.
int local_port(int* hold = nullptr) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  ::listen(fd, 1);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  if (hold) {
    *hold = fd;
  } else {
    ::close(fd);
  }
  return ntohs(a.sin_port);
}

TEST(Distributed, ARendezvousThatNeverCompletesEndsWithinTheTimeout) {
  TempDir dir;
  // Rank 0 of two, and no rank 1.
  const std::string env = "WORLD_SIZE=2 RANK=0 MASTER_ADDR=127.0.0.1 MASTER_PORT=" + std::to_string(local_port());
  const auto t0 = std::chrono::steady_clock::now();
  auto r = run_cli(train_args("transformer-tiny", dir.file("run"), 8, 2) + " --dist-timeout 3", 60, env);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_LT(seconds, 30);
  EXPECT_NE(r.err.find("rendezvous failed (timeout 3 s)"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

TEST(Distributed, APortInUseIsOneLine) {
  TempDir dir;
  int held = -1;
  const int port = local_port(&held);
  auto r = run_cli(train_args("transformer-tiny", dir.file("run"), 8, 2) + " --nproc-per-node 2 --dist-timeout 5", 60,
                   "MASTER_PORT=" + std::to_string(port));
  ::close(held);
  EXPECT_NE(r.exit_code, 0) << r.err;
  EXPECT_NE(r.exit_code, 137) << "hung: " << r.err;
  EXPECT_NE(r.err.find("rank 0 of 2"), std::string::npos) << r.err;
}

TEST(Distributed, LauncherFlagUnderAnExternalLauncherIsRefused) {
  TempDir dir;
  auto r = run_cli(train_args("transformer-tiny", dir.file("run"), 8, 2) + " --nproc-per-node 2", 60,
                   "WORLD_SIZE=2 RANK=0 MASTER_ADDR=127.0.0.1 MASTER_PORT=1");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("leave --nproc-per-node out"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace oryx::testing
