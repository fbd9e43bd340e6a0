#include "oryx/dist/launcher.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "oryx/common/error.h"

namespace oryx {

namespace {

std::atomic<int> g_launcher_signal{0};
std::atomic<int> g_launcher_signals{0};

extern "C" void on_launcher_signal(int sig) {
  g_launcher_signal = sig;
  ++g_launcher_signals;
}

// A port the kernel reports free on 127.0.0.1 (rank 0's store binds it a moment later).
int free_local_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ORYX_CHECK(fd >= 0, "--nproc-per-node: cannot open a socket to find a free port: ", std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
            ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
  ::close(fd);
  ORYX_CHECK(ok, "--nproc-per-node: cannot find a free port on 127.0.0.1: ", std::strerror(errno));
  return ntohs(addr.sin_port);
}

std::string describe_status(int status) {
  if (WIFSIGNALED(status)) return std::string("was killed by signal ") + std::to_string(WTERMSIG(status));
  return "exited with status " + std::to_string(WEXITSTATUS(status));
}

}  // namespace

bool launched_externally() {
  const char* w = std::getenv("WORLD_SIZE");
  return w && *w;
}

int launch_local_workers(int nproc, const std::vector<std::string>& argv, std::chrono::seconds grace) {
  ORYX_CHECK(nproc >= 1, "--nproc-per-node must be at least 1, got ", nproc);
  const char* port_env = std::getenv("MASTER_PORT");
  const std::string port = port_env && *port_env ? port_env : std::to_string(free_local_port());
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);

  g_launcher_signal = 0;
  g_launcher_signals = 0;
  auto old_int = std::signal(SIGINT, on_launcher_signal);
  auto old_term = std::signal(SIGTERM, on_launcher_signal);
  const pid_t launcher = ::getpid();
  std::vector<pid_t> pids(static_cast<size_t>(nproc), 0);
  std::fflush(nullptr);
  for (int r = 0; r < nproc; ++r) {
    pid_t pid = ::fork();
    if (pid < 0) {
      for (pid_t p : pids)
        if (p > 0) ::kill(p, SIGKILL);
      ORYX_FAIL("--nproc-per-node: cannot start worker ", r, ": ", std::strerror(errno));
    }
    if (pid == 0) {
      std::signal(SIGINT, SIG_DFL);
      std::signal(SIGTERM, SIG_DFL);
      // A process group of its own: Ctrl-C at the terminal reaches the launcher alone, which
      // passes on one SIGTERM (a worker that got both would take the second as "kill now").
      ::setpgid(0, 0);
      // A worker must not outlive its launcher (killed with SIGKILL, it cannot pass anything on).
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != launcher) ::_exit(1);
      const std::string n = std::to_string(nproc), rank = std::to_string(r);
      ::setenv("RANK", rank.c_str(), 1);
      ::setenv("LOCAL_RANK", rank.c_str(), 1);
      ::setenv("WORLD_SIZE", n.c_str(), 1);
      ::setenv("LOCAL_WORLD_SIZE", n.c_str(), 1);
      ::setenv("MASTER_ADDR", "127.0.0.1", 1);
      ::setenv("MASTER_PORT", port.c_str(), 1);
      ::execv("/proc/self/exe", args.data());
      std::fprintf(stderr, "oryx: error: worker %d: cannot run /proc/self/exe: %s\n", r, std::strerror(errno));
      ::_exit(127);
    }
    pids[static_cast<size_t>(r)] = pid;
  }

  int alive = nproc, result = 0, forwarded = 0;
  bool failing = false;
  auto kill_deadline = std::chrono::steady_clock::time_point::max();
  auto signal_alive = [&](int sig) {
    for (pid_t p : pids)
      if (p > 0) ::kill(p, sig);
  };
  while (alive > 0) {
    // Signals to the launcher go to every worker: the first asks them to stop (with a
    // checkpoint), a second kills them.
    if (g_launcher_signals > forwarded) {
      forwarded = g_launcher_signals;
      signal_alive(forwarded == 1 ? SIGTERM : SIGKILL);
      if (result == 0) result = 128 + g_launcher_signal;
    }
    if (std::chrono::steady_clock::now() > kill_deadline) {
      signal_alive(SIGKILL);
      kill_deadline = std::chrono::steady_clock::time_point::max();
    }
    int status = 0;
    pid_t done = ::waitpid(-1, &status, WNOHANG);
    if (done <= 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      continue;
    }
    int rank = -1;
    for (int r = 0; r < nproc; ++r)
      if (pids[static_cast<size_t>(r)] == done) rank = r;
    if (rank < 0) continue;
    pids[static_cast<size_t>(rank)] = 0;
    --alive;
    const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (!ok && !failing && forwarded == 0) {
      failing = true;
      result = WIFEXITED(status) ? WEXITSTATUS(status) : 1;
      std::fprintf(stderr, "oryx: error: worker %d (pid %d) %s; stopping the other %d worker%s\n", rank,
                   static_cast<int>(done), describe_status(status).c_str(), alive, alive == 1 ? "" : "s");
      signal_alive(SIGTERM);
      kill_deadline = std::chrono::steady_clock::now() + grace;
    }
  }
  std::signal(SIGINT, old_int);
  std::signal(SIGTERM, old_term);
  return result;
}

}  // namespace oryx
