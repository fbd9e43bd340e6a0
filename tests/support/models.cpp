#include "support/models.h"

#include "oryx/common/remove_tree.h"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <sys/wait.h>

namespace oryx::testing {

torch::Device test_device() {
  const char* d = std::getenv("ORYX_TEST_DEVICE");
  return torch::Device(d && *d ? d : "cpu");
}

std::string shipped_config_path(const std::string& name) {
  return std::string(ORYX_SOURCE_DIR) + "/configs/" + name + ".json";
}

ModelConfig shipped_config(const std::string& name) { return config_load(shipped_config_path(name)); }

std::string make_temp_dir(const std::string& tag) {
  static std::atomic<int> counter{0};
  auto dir = std::filesystem::temp_directory_path() /
             ("oryx-test-" + tag + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
  remove_tree(dir.string());
  std::filesystem::create_directories(dir);
  return dir.string();
}

CliResult run_cli(const std::string& args, int timeout_s, const std::string& env) {
  auto dir = make_temp_dir("cli");
  std::string out = dir + "/out", err = dir + "/err";
  std::string limit = timeout_s > 0 ? "timeout -s KILL " + std::to_string(timeout_s) + " " : "";
  std::string with_env = env.empty() ? "" : "env " + env + " ";
  std::string cmd = limit + with_env + std::string(ORYX_CLI_PATH) + " " + args + " >" + out + " 2>" + err;
  int status = std::system(cmd.c_str());
  CliResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  auto slurp = [](const std::string& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  };
  r.out = slurp(out);
  r.err = slurp(err);
  remove_tree(dir);
  return r;
}

}  // namespace oryx::testing
