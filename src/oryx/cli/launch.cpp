// --nproc-per-node for `oryx train` and `oryx bench train` (dist/launcher.h).
#include <chrono>
#include <cstdlib>

#include "oryx/cli/commands.h"
#include "oryx/common/error.h"
#include "oryx/dist/launcher.h"

namespace oryx::cli {

namespace {

// The command line without --nproc-per-node (and its value): what each worker runs.
std::vector<std::string> worker_argv(const std::vector<std::string>& argv) {
  std::vector<std::string> out;
  for (size_t i = 0; i < argv.size(); ++i) {
    if (argv[i] == "--nproc-per-node") {
      ++i;
      continue;
    }
    if (argv[i].rfind("--nproc-per-node=", 0) == 0) continue;
    out.push_back(argv[i]);
  }
  return out;
}

}  // namespace

void add_nproc_option(CLI::App* cmd, int& nproc_per_node) {
  cmd->add_option("--nproc-per-node", nproc_per_node,
                  "Data-parallel processes to start on this machine, one per GPU (Gloo on the CPU)")
      ->check(CLI::Range(1, 1024))
      ->group("Machine");
}

void launch_if_asked(int nproc_per_node) {
  if (nproc_per_node <= 0) return;
  ORYX_CHECK(!launched_externally(), "--nproc-per-node starts its own processes, but WORLD_SIZE is set (an ",
             "external launcher such as torchrun started this one): leave --nproc-per-node out");
  if (nproc_per_node == 1) return;
  // A worker that fails gets 30 s to take the others down with it before they are killed.
  std::exit(launch_local_workers(nproc_per_node, worker_argv(command_line()), std::chrono::seconds(30)));
}

}  // namespace oryx::cli
