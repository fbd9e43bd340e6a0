// The documented commands work: every `oryx ...` line of README.md's shell blocks and of the
// subcommands' --help examples names an existing subcommand, only flags that subcommand
// has, schedules that parse and shipped files (configs/, runs/) that exist; the examples
// that need no GPU, corpus or checkpoint (info, generate from a config) run to exit 0.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>

#include "oryx/common/error.h"
#include "oryx/eval/sweep.h"
#include "oryx/schedule/schedule.h"
#include "support/models.h"

namespace oryx::testing {
namespace {

const std::string kSource = ORYX_SOURCE_DIR;

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Shell words of one command line: quotes group, a '#' starting a word starts a comment.
std::vector<std::string> shell_words(const std::string& line) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;
  char quote = 0;
  for (char ch : line) {
    if (quote) {
      if (ch == quote) quote = 0;
      else word += ch;
    } else if (ch == '\'' || ch == '"') {
      quote = ch;
      in_word = true;
    } else if (ch == ' ' || ch == '\t') {
      if (in_word) words.push_back(word);
      word.clear();
      in_word = false;
    } else if (ch == '#' && !in_word) {
      break;
    } else {
      word += ch;
      in_word = true;
    }
  }
  if (in_word) words.push_back(word);
  return words;
}

// The `oryx ...` commands of `text`, continuation lines (trailing backslash) joined and
// comments dropped. `indent` is what precedes "oryx " on a command's first line.
std::vector<std::string> oryx_commands(const std::string& text, const std::string& indent) {
  std::vector<std::string> commands;
  std::istringstream in(text);
  std::string line;
  std::string current;
  while (std::getline(in, line)) {
    if (current.empty() && line.rfind(indent + "oryx ", 0) != 0) continue;
    if (auto hash = line.find(" #"); hash != std::string::npos && line.find('\'') == std::string::npos)
      line = line.substr(0, hash);
    while (!line.empty() && line.back() == ' ') line.pop_back();
    const bool continues = !line.empty() && line.back() == '\\';
    if (continues) line.pop_back();
    current += line + " ";
    if (!continues) {
      commands.push_back(current.substr(current.find("oryx ")));
      current.clear();
    }
  }
  return commands;
}

// The text of README.md's ```sh blocks.
std::string readme_shell_blocks() {
  std::istringstream in(read_text(kSource + "/README.md"));
  std::string line, blocks;
  bool inside = false;
  while (std::getline(in, line)) {
    if (line.rfind("```", 0) == 0) {
      inside = !inside && line == "```sh";
      continue;
    }
    if (inside) blocks += line + "\n";
  }
  return blocks;
}

// The subcommands' names ("bench kernels" has two) and the rest of the words.
std::pair<std::string, std::vector<std::string>> split_command(const std::vector<std::string>& words) {
  std::string sub = words.at(1);
  size_t i = 2;
  if (sub == "bench" && words.size() > 2) sub += " " + words[i++];
  return {sub, std::vector<std::string>(words.begin() + static_cast<long>(i), words.end())};
}

// `oryx <sub> --help`, run once per subcommand.
const CliResult& help_of(const std::string& sub) {
  static std::map<std::string, CliResult> cache;
  auto it = cache.find(sub);
  if (it == cache.end()) it = cache.emplace(sub, run_cli(sub + " --help")).first;
  return it->second;
}

void check_command(const std::string& command, const std::string& source) {
  SCOPED_TRACE(source + ": " + command);
  const auto [sub, args] = split_command(shell_words(command));
  const CliResult& help = help_of(sub);
  ASSERT_EQ(help.exit_code, 0) << "no subcommand '" << sub << "'";
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a.rfind("--", 0) != 0) continue;
    const std::string flag = a.substr(0, a.find('='));
    EXPECT_TRUE(std::regex_search(help.out, std::regex(flag + "([^a-z-]|$)"))) << "oryx " << sub << " has no " << flag;
    const std::string value = i + 1 < args.size() ? args[i + 1] : "";
    // Braces: gtest's EXPECT_* macros are if-else statements.
    if (flag == "--schedule") {
      EXPECT_NO_THROW(schedule_parse(value)) << value;
    }
    if (flag == "--schedules") {
      EXPECT_NO_THROW(sweep_parse(value, shipped_config("oryx-gdn-tiny"))) << value;
    }
    bool shipped = value.rfind("configs/", 0) == 0 || value.rfind("runs/", 0) == 0;
    if ((flag == "--config" || flag == "--plan" || flag == "--run") && shipped) {
      EXPECT_TRUE(std::filesystem::is_regular_file(kSource + "/" + value)) << value << " is not shipped";
    }
  }
}

TEST(ReadmeExamples, EveryCommandUsesRealFlagsSchedulesAndFiles) {
  const auto commands = oryx_commands(readme_shell_blocks(), "");
  EXPECT_GE(commands.size(), 15u);
  for (const auto& c : commands) check_command(c, "README.md");
}

TEST(ReadmeExamples, EveryHelpExampleUsesRealFlagsSchedulesAndFiles) {
  for (const char* sub : {"info", "generate", "prepare", "train", "eval", "plot", "study", "bench", "bench train"}) {
    const CliResult& help = help_of(sub);
    ASSERT_EQ(help.exit_code, 0) << sub;
    for (const auto& c : oryx_commands(help.out, "  ")) check_command(c, std::string("oryx ") + sub + " --help");
  }
}

// The schedules the README spells out in its prose parse too (mask:0110 did not: masks are
// spelt with A and L).
TEST(ReadmeExamples, ProseMasksParse) {
  const std::string readme = read_text(kSource + "/README.md");
  const std::regex mask("`(mask:[AL]+)`");
  int found = 0;
  for (auto it = std::sregex_iterator(readme.begin(), readme.end(), mask); it != std::sregex_iterator(); ++it, ++found)
    EXPECT_NO_THROW(schedule_parse((*it)[1].str())) << (*it)[1].str();
  EXPECT_GE(found, 1);
  EXPECT_EQ(readme.find("mask:0"), std::string::npos);
  EXPECT_EQ(readme.find("mask:1"), std::string::npos);
}

// The examples that need nothing but a shipped config run as documented.
TEST(ReadmeExamples, ConfigOnlyExamplesRun) {
  int ran = 0;
  for (const auto& c : oryx_commands(readme_shell_blocks(), "")) {
    const auto words = shell_words(c);
    if (words[1] != "info" && words[1] != "generate") continue;
    if (c.find("--checkpoint") != std::string::npos) continue;
    // Paths are relative to the repository's root; run_cli runs in the build tree.
    const std::string args = std::regex_replace(c.substr(5), std::regex(" configs/"), " " + kSource + "/configs/");
    const CliResult r = run_cli(args + " --device cpu", 120);
    EXPECT_EQ(r.exit_code, 0) << c << "\n" << r.err;
    ++ran;
  }
  EXPECT_GE(ran, 2);
}

}  // namespace
}  // namespace oryx::testing
