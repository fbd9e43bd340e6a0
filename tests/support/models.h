// Shipped configs and the built CLI, for tests.
#pragma once
#include <torch/types.h>

#include <string>

#include "oryx/config/model_config.h"

namespace oryx::testing {

// Where the contract tests run: the CPU, or the device named by ORYX_TEST_DEVICE (e.g.
// "cuda"), so that the same tests check the reference path on a GPU machine.
torch::Device test_device();

// configs/<name>.json of the source tree.
std::string shipped_config_path(const std::string& name);
ModelConfig shipped_config(const std::string& name);

struct CliResult {
  int exit_code = -1;
  std::string out, err;
};

// Runs the built `oryx` with `args` (a shell-quoted string), capturing stdout and stderr.
// With timeout_s > 0 the process is killed after that many seconds (exit code 137), so that
// a test of "does not hang" fails instead of hanging itself.
// `env` ("A=1 B=2", empty for none) is added to the process's environment.
CliResult run_cli(const std::string& args, int timeout_s = 0, const std::string& env = "");

// A fresh empty folder under the system temp dir, unique per call.
std::string make_temp_dir(const std::string& tag);

}  // namespace oryx::testing
