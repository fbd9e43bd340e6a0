// oryx: the command line. `oryx --help` lists the subcommands; `oryx <cmd> --help` their flags.
#include <iostream>

#include "oryx/cli/commands.h"
#include "oryx/common/error.h"

namespace {

// "oryx eval": the app and the subcommands the command line named, for "see ... --help".
std::string command_path(const CLI::App& app) {
  std::string path = app.get_name();
  const CLI::App* cmd = &app;
  while (!cmd->get_subcommands().empty()) {
    cmd = cmd->get_subcommands().front();
    path += " " + cmd->get_name();
  }
  return path;
}

// CLI11 lists the arguments it did not expect in reverse ("not expected: 8 --batch"); name
// the first unknown option instead, or the first stray argument when every option is known.
std::string extras_message(const CLI::App& app) {
  const std::vector<std::string> extras = app.remaining(true);
  for (const auto& a : extras)
    if (a.size() > 1 && a[0] == '-') return "unknown option " + a;
  return extras.empty() ? "unexpected arguments" : "unexpected argument '" + extras.front() + "'";
}

std::vector<std::string> g_command_line;

}  // namespace

const std::vector<std::string>& oryx::cli::command_line() { return g_command_line; }

int main(int argc, char** argv) {
  g_command_line.assign(argv, argv + argc);
  CLI::App app{
      "oryx: multi-mixer (attention + linear recurrence) language models.\n"
      "Examples:\n"
      "  oryx info --config configs/oryx-gdn-125m.json\n"
      "  oryx generate --config configs/oryx-gdn-tiny.json --tokens 1,2,3 --schedule last:2 --max-new 8",
      "oryx"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "oryx 0.1");
  oryx::cli::register_info(app);
  oryx::cli::register_generate(app);
  oryx::cli::register_prepare(app);
  oryx::cli::register_bench(app);
  oryx::cli::register_eval(app);
  oryx::cli::register_train(app);
  oryx::cli::register_plot(app);
  oryx::cli::register_study(app);
  oryx::cli::register_export(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ExtrasError&) {
    std::cerr << "oryx: error: " << extras_message(app) << " (see " << command_path(app) << " --help)\n";
    return 2;
  } catch (const CLI::ParseError& e) {
    std::cerr << "oryx: error: " << e.what() << " (see " << command_path(app) << " --help)\n";
    return 2;
  } catch (const oryx::Error& e) {
    std::cerr << "oryx: error: " << e.what() << "\n";
    return 2;
  } catch (const c10::Error& e) {
    std::cerr << "oryx: error: " << e.what_without_backtrace() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "oryx: internal error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
