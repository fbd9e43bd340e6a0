// The `oryx` subcommands. Each lives in cmd_<name>.cpp and registers itself on the app with
// its flags, help and a callback; main.cpp only lists them. Callbacks throw oryx::Error for
// anything the user got wrong; main prints it as one line and exits 2.
#pragma once
#include <CLI/CLI.hpp>

#include <string>
#include <vector>

namespace oryx::cli {

void register_info(CLI::App& app);
void register_generate(CLI::App& app);
void register_prepare(CLI::App& app);
void register_bench(CLI::App& app);
void register_eval(CLI::App& app);
void register_train(CLI::App& app);
void register_plot(CLI::App& app);
void register_study(CLI::App& app);
void register_export(CLI::App& app);

// `oryx bench generate`, added under `oryx bench` (cmd_bench_generate.cpp).
void register_bench_generate(CLI::App* bench);

// The process's command line as main() got it (argv[0] first): what the workers of
// --nproc-per-node run again.
const std::vector<std::string>& command_line();

// --nproc-per-node N (launch.cpp): adds the flag; launch_if_asked runs N workers with this
// command line (dist/launcher.h) and exits with their status when N > 1, and refuses the flag
// under an external launcher.
void add_nproc_option(CLI::App* cmd, int& nproc_per_node);
void launch_if_asked(int nproc_per_node);

}  // namespace oryx::cli
