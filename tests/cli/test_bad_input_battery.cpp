// The bad-input battery: sizes in a config and numbers on the command line past any sensible
// bound, products of flags that overflow int64, seeds out of range, wrong types in files a
// user can edit. Each used to abort in libtorch's allocator (SIGABRT), divide by zero
// (SIGFPE), hang, or exit 1 with "internal error"; each must now exit 2 with one line that
// names the key or flag, before anything is allocated or looped over (hence the timeout).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "support/models.h"
#include "support/temp_dir.h"

namespace oryx::testing {
namespace {

constexpr int kTimeoutS = 60;  // a bounds check answers in about a second; a hang is killed

int count_lines(const std::string& s) {
  int n = 0;
  for (char ch : s) n += ch == '\n';
  return n;
}

void expect_one_line_error(const std::string& args, const std::string& needle) {
  const CliResult r = run_cli(args, kTimeoutS);
  EXPECT_EQ(r.exit_code, 2) << args << "\n" << r.err;
  EXPECT_EQ(count_lines(r.err), 1) << args << "\n" << r.err;
  EXPECT_EQ(r.err.rfind("oryx: error: ", 0), 0u) << args << "\n" << r.err;
  EXPECT_NE(r.err.find(needle), std::string::npos) << args << "\nstderr '" << r.err << "' lacks '" << needle << "'";
}

// A config file holding `keys` (the members of one JSON object).
std::string write_config(const TempDir& dir, const std::string& name, const std::string& keys) {
  const std::string path = dir.file(name + ".json");
  std::ofstream(path) << "{" << keys << "}";
  return path;
}

TEST(BadInputBattery, ConfigSizesAreBoundedBeforeAllocating) {
  TempDir dir;
  const std::string rest = R"("vocab_size": 64, "n_layers": 1, "n_heads": 2)";
  const std::pair<std::string, std::string> cases[] = {
      {rest + R"(, "d_model": 1000000000000)", "key 'd_model'"},
      {rest + R"(, "d_model": 32, "head_dim_k": 1099511627776)", "key 'head_dim_k'"},
      {R"("vocab_size": 2147483648, "d_model": 32, "n_layers": 1, "n_heads": 2)", "key 'vocab_size'"},
      {rest + R"(, "d_model": 32, "chunk_size": 1099511627776)", "key 'chunk_size'"},
      {R"("vocab_size": 64, "d_model": 32, "n_layers": 1000000000, "n_heads": 2)", "key 'n_layers'"},
      {rest + R"(, "d_model": 32, "rope_theta": 1e400)", "malformed JSON"},
      {rest + R"(, "d_model": 32, "d_model": 64)", "key 'd_model' appears twice"},
      {rest + R"(, "d_model": 32, "mlp_ratio": 1e300)", "key 'mlp_ratio'"},
      {R"("vocab_size": 16777216, "d_model": 65536, "n_layers": 1, "n_heads": 512)", "parameters, more than"},
  };
  int i = 0;
  for (const auto& [keys, needle] : cases)
    expect_one_line_error("info --config " + write_config(dir, "c" + std::to_string(i++), keys), needle);
  expect_one_line_error("info --config " + dir.path().string(), "is a folder");
  expect_one_line_error("generate --tokens 1 --config " + write_config(dir, "layers", cases[4].first), "n_layers");
}

TEST(BadInputBattery, TrainFlagsAreBounded) {
  TempDir dir;
  const std::string base = "train --config " + shipped_config_path("oryx-gdn-tiny") +
                           " --data mqar --out " + dir.file("run") + " --tokens 4096 --device cpu";
  // 2^32 x 2^32 sequences per step overflowed to 0 (SIGFPE) or to a negative token count.
  expect_one_line_error(base + " --seq-len 64 --batch-size 4294967296 --grad-accum 4294967296", "key 'batch_size'");
  expect_one_line_error(base + " --seq-len 64 --batch-size 100000000", "key 'batch_size'");
  expect_one_line_error(base + " --batch-size 65536 --seq-len 1024", "tokens per micro-batch");
  expect_one_line_error(base + " --seq-len 64 --grad-accum 100000000", "key 'grad_accum'");
  expect_one_line_error(base + " --seq-len 64 --threads 100000", "key 'threads'");
  expect_one_line_error(base + " --seq-len 64 --seed -1", "--seed");
  expect_one_line_error("train --config " + dir.path().string() + " --data mqar --out " + dir.file("run") +
                            " --tokens 4096 --seq-len 64 --device cpu",
                        "is a folder");
}

// The flags and environment of data-parallel runs, `oryx export`, and the per-token and
// per-request dumps of `oryx eval`.
TEST(BadInputBattery, DistributedExportAndDumpInputsAreOneLine) {
  TempDir dir;
  const std::string train = "train --config " + shipped_config_path("transformer-tiny") + " --data mqar --out " +
                            dir.file("run") + " --tokens 128 --seq-len 64 --batch-size 2 --mqar-pairs 4 --mqar-vocab 256 --device cpu";
  expect_one_line_error(train + " --nproc-per-node 0", "--nproc-per-node");
  expect_one_line_error(train + " --dist-timeout 0", "key 'dist_timeout'");
  const CliResult bad_env = run_cli(train, kTimeoutS, "WORLD_SIZE=two");
  EXPECT_EQ(bad_env.exit_code, 2) << bad_env.err;
  EXPECT_NE(bad_env.err.find("WORLD_SIZE='two'"), std::string::npos) << bad_env.err;
  const CliResult no_rank = run_cli(train, kTimeoutS, "WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=1");
  EXPECT_EQ(no_rank.exit_code, 2) << no_rank.err;
  EXPECT_NE(no_rank.err.find("RANK is not"), std::string::npos) << no_rank.err;

  expect_one_line_error("export --checkpoint " + dir.file("none") + " --hf " + dir.file("hf"), dir.file("none"));
  ASSERT_EQ(run_cli(train).exit_code, 0);
  std::ofstream(dir.file("a-file")) << "x";
  expect_one_line_error("export --checkpoint " + dir.file("run/final") + " --hf " + dir.file("a-file"),
                        "is not a folder");
  // An --hf folder whose parents do not exist yet: they are created, as for checkpoints.
  const CliResult nested = run_cli("export --checkpoint " + dir.file("run/final") + " --hf " + dir.file("new/sub/hf"));
  EXPECT_EQ(nested.exit_code, 0) << nested.err;
  EXPECT_TRUE(std::filesystem::exists(dir.file("new/sub/hf/config.json")));

  const std::string unwritable = dir.file("no/such/folder/out.jsonl");
  std::ofstream(dir.file("text.txt")) << "some text to score\n";
  expect_one_line_error("eval --config " + shipped_config_path("oryx-gdn-tiny") + " --task ppl --device cpu --data " +
                            dir.file("text.txt") + " --seq-len 8 --token-losses " + unwritable,
                        "--token-losses: cannot write");
  std::ofstream(dir.file("task.jsonl"))
      << R"({"doc_id": 0, "idx": 0, "label": 0, "request": {"context": "a", "continuation": " b"}})" << "\n";
  expect_one_line_error("eval --config " + shipped_config_path("oryx-gdn-tiny") + " --task mc --device cpu --data " +
                            dir.file("task.jsonl") + " --request-scores " + unwritable,
                        "--request-scores: cannot write");
}

TEST(BadInputBattery, EvalAndGenerateFlagsAreBounded) {
  const std::string tiny = shipped_config_path("oryx-gdn-tiny");
  const std::string eval = "eval --config " + tiny + " --task mqar --device cpu";
  expect_one_line_error(eval + " --n 1000000000", "--n");
  expect_one_line_error(eval + " --vocab -1", "--vocab");
  expect_one_line_error(eval + " --seed -1", "--seed");
  expect_one_line_error(eval + " --batch-size 0", "--batch-size");
  expect_one_line_error(eval + " --seq-len 100000000", "--seq-len");
  const std::string gen = "generate --config " + tiny + " --tokens 1,2 --device cpu";
  expect_one_line_error(gen + " --max-new 9223372036854775807", "--max-new");
  expect_one_line_error(gen + " --seed 9223372036854775808", "--seed");
  expect_one_line_error(gen + " --top-k -1", "--top-k");
  expect_one_line_error("info --config " + tiny + " --init-seed -1", "--init-seed");
}

TEST(BadInputBattery, PrepareBenchStudyPlotAreBounded) {
  TempDir dir;
  expect_one_line_error("prepare --synthetic 10 --synthetic-doc-chars 9000000000000000000 --out " + dir.file("d"),
                        "--synthetic-doc-chars");
  expect_one_line_error("prepare --synthetic 10 --threads 100000 --out " + dir.file("d"), "--threads");
  expect_one_line_error("prepare --synthetic 10 --synthetic-seed -1 --out " + dir.file("d"), "--synthetic-seed");
  expect_one_line_error("bench kernels --warmup 100000000000", "--warmup");
  expect_one_line_error("study --plan " + dir.file("plan.toml") + " --parallel 100000", "--parallel");
  // A metrics file whose loss is a string was an internal error (exit 1) in `oryx plot`.
  std::ofstream(dir.file("metrics.jsonl")) << R"({"kind": "train", "step": 1, "tokens": 64, "loss": "high"})" << "\n";
  expect_one_line_error("plot " + dir.file("metrics.jsonl") + " --out " + dir.file("loss.png"),
                        "metrics.jsonl:1: key 'loss' must be a number");
}

// CLI11 listed unexpected arguments backwards ("not expected: 8 --batch-sz").
TEST(BadInputBattery, UnknownOptionIsNamedWithTheCommandsHelp) {
  const CliResult r = run_cli("eval --config " + shipped_config_path("oryx-gdn-tiny") + " --task mqar --batch-sz 8");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "oryx: error: unknown option --batch-sz (see oryx eval --help)\n");
}

}  // namespace
}  // namespace oryx::testing
