// oryx train: train a model on a prepared dataset, or on synthetic MQAR, to a fixed token budget.
#include <cstdio>
#include <iostream>

#include "oryx/cli/commands.h"
#include "oryx/cli/flag_limits.h"
#include "oryx/common/error.h"
#include "oryx/train/trainer.h"

namespace oryx::cli {

namespace {

struct TrainCli {
  std::string run_file;
  nlohmann::json flags = nlohmann::json::object();  // only the flags given on the command line
  bool json = false;
  bool overwrite = false;  // a command-line decision only: no run file can carry it
  int nproc_per_node = 0;  // 0: one process, or as many as an external launcher started
};

// A number for people to read: losses do not need 16 digits (--json keeps them all).
std::string fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

// A flag that, when given, sets `key` of the options object.
template <typename T>
CLI::Option* flag(CLI::App* cmd, TrainCli& c, const std::string& name, const std::string& key,
                  const std::string& help, const std::string& group) {
  return cmd->add_option_function<T>(name, [&c, key](const T& v) { c.flags[key] = v; }, help)->group(group);
}

// Booleans are switches: `--resume` sets true (`--resume=false` sets false).
template <>
CLI::Option* flag<bool>(CLI::App* cmd, TrainCli& c, const std::string& name, const std::string& key,
                        const std::string& help, const std::string& group) {
  return cmd->add_flag_function(name, [&c, key](int64_t count) { c.flags[key] = count > 0; }, help)->group(group);
}

void run_train(TrainCli& c) {
  nlohmann::json j = c.run_file.empty() ? nlohmann::json::object() : train_run_file_read(c.run_file);
  ORYX_CHECK(j.is_object(), c.run_file, ": a run file must hold one object of options");
  for (auto& [k, v] : c.flags.items()) j[k] = v;
  TrainOptions o = train_options_from_json(j, c.run_file.empty() ? "command line" : c.run_file + " + command line");
  o.overwrite = c.overwrite;
  // The options are checked before the workers start: a typo is one error, not one per worker.
  launch_if_asked(c.nproc_per_node);
  TrainSummary s = train_run(o);
  if (!s.reports) {
    if (s.interrupted) std::exit(128 + s.signal);
    return;
  }
  nlohmann::json out = {{"steps", s.steps},         {"tokens", s.tokens},
                        {"last_loss", s.last_loss}, {"last_eval", s.last_eval},
                        {"finished", s.finished},   {"interrupted", s.interrupted},
                        {"seconds", s.seconds},     {"out", o.out}};
  if (c.json) {
    std::cout << out.dump(2) << "\n";
  } else {
    std::cout << (s.finished ? "finished" : s.interrupted ? "interrupted" : "stopped") << ": " << s.steps
              << " steps, " << s.tokens << " tokens, last loss " << fixed(s.last_loss, 4) << "; checkpoint in "
              << o.out << (s.finished ? "/final" : "/ckpt") << "\n";
    if (!s.last_eval.is_null() && s.last_eval.contains("eval"))
      for (auto& [sched, v] : s.last_eval["eval"].items())
        std::cout << "  val " << sched << ": loss " << fixed(v["loss"].get<double>(), 4) << ", ppl "
                  << fixed(v["perplexity"].get<double>(), 2) << "\n";
  }
  // A signal ends the process with the conventional 128 + signal code, after the checkpoint.
  if (s.interrupted) std::exit(128 + s.signal);
}

}  // namespace

void register_train(CLI::App& app) {
  auto c = std::make_shared<TrainCli>();
  auto* cmd = app.add_subcommand("train", "Train a model to a fixed token budget");
  cmd->footer(
      "Options come from --run FILE (.json or .toml, keys named like the flags with '_')\n"
      "and from flags, which win. Output in --out: metrics.jsonl, ckpt/ (resume), final/;\n"
      "a non-empty --out needs --resume (continue) or --overwrite (start over).\n"
      "Examples:\n"
      "  oryx train --config configs/oryx-gdn-tiny.json --data runs/out/demo/data --out runs/out/demo/run \\\n"
      "             --tokens 1048576 --batch-size 16 --seq-len 256 --lr 3e-3\n"
      "  oryx train --config configs/transformer-tiny.json --data mqar --mqar-vocab 512 \\\n"
      "             --mqar-pairs 4,8,16 --seq-len 128 --tokens 4194304 --out runs/out/mqar\n"
      "  oryx train --run my-run.toml --out runs/out/x --resume");
  cmd->add_option("--run", c->run_file, "Run file with options (JSON or TOML)")->group("Run");
  flag<std::string>(cmd, *c, "--config", "config", "Model config (JSON)", "Run");
  flag<std::string>(cmd, *c, "--data", "data", "Dataset folder from `oryx prepare`, or mqar (synthetic recall)", "Run");
  flag<std::string>(cmd, *c, "--out", "out", "Run folder", "Run");
  flag<int64_t>(cmd, *c, "--tokens", "tokens", "Token budget (a multiple of --seq-len)", "Run");
  flag<bool>(cmd, *c, "--resume", "resume", "Continue from <out>/ckpt", "Run");
  cmd->add_flag("--overwrite", c->overwrite, "Replace the run already in --out (ckpt/, final/, metrics)")->group("Run");
  flag<int64_t>(cmd, *c, "--batch-size", "batch_size", "Sequences per micro-batch [8]", "Batch");
  flag<int64_t>(cmd, *c, "--seq-len", "seq_len", "Tokens per sequence [512]", "Batch");
  flag<int64_t>(cmd, *c, "--grad-accum", "grad_accum", "Micro-batches per step [1]", "Batch");
  flag<double>(cmd, *c, "--lr", "lr", "Peak learning rate [3e-4]", "Optimiser");
  flag<double>(cmd, *c, "--min-lr-ratio", "min_lr_ratio", "Final lr / peak lr [0.1]", "Optimiser");
  flag<int64_t>(cmd, *c, "--warmup-tokens", "warmup_tokens", "Linear warm-up length [0]", "Optimiser");
  flag<double>(cmd, *c, "--weight-decay", "weight_decay", "Decoupled weight decay [0.1]", "Optimiser");
  flag<double>(cmd, *c, "--beta1", "beta1", "AdamW beta1 [0.9]", "Optimiser");
  flag<double>(cmd, *c, "--beta2", "beta2", "AdamW beta2 [0.95]", "Optimiser");
  flag<double>(cmd, *c, "--eps", "eps", "AdamW epsilon [1e-8]", "Optimiser");
  flag<bool>(cmd, *c, "--decay-embeddings", "decay_embeddings", "Weight decay on embeddings too", "Optimiser");
  flag<double>(cmd, *c, "--grad-clip", "grad_clip", "Max gradient norm, 0 = off [1.0]", "Optimiser");
  flag<int64_t>(cmd, *c, "--mqar-vocab", "mqar_vocab", "Ids used, at most the model's vocab_size [8192]", "MQAR data");
  flag<std::vector<int64_t>>(cmd, *c, "--mqar-pairs", "mqar_pairs", "Pair counts, cycled per sequence [4,8,16,32,64]",
                             "MQAR data")->delimiter(',');
  flag<double>(cmd, *c, "--mqar-power-a", "mqar_power_a", "Query positions ~ (s+1)^(a-1) [0.01]", "MQAR data");
  flag<bool>(cmd, *c, "--mqar-zero-filler", "mqar_zero_filler", "Filler id 0 instead of random ids", "MQAR data");
  flag<int64_t>(cmd, *c, "--schedule-chunk", "schedule_chunk", "Mixed-mode chunk length [64]", "Mixed modes");
  flag<double>(cmd, *c, "--p-all-a", "p_all_a", "Probability of an all-A sequence [0.25]", "Mixed modes");
  flag<double>(cmd, *c, "--p-all-l", "p_all_l", "Probability of an all-L sequence [0.25]", "Mixed modes");
  flag<int64_t>(cmd, *c, "--eval-every", "eval_every", "Steps between evaluations, 0 = ten per run [0]", "Eval");
  flag<int64_t>(cmd, *c, "--eval-windows", "eval_windows", "Validation windows per evaluation, 0 = all [32]", "Eval");
  flag<std::vector<std::string>>(cmd, *c, "--eval-schedules", "eval_schedules",
                                 "Schedules to validate (default all-A all-L every:2:C for Oryx)", "Eval");
  flag<int64_t>(cmd, *c, "--log-every", "log_every", "Steps between metrics records [10]", "Eval");
  flag<int64_t>(cmd, *c, "--save-every", "save_every", "Steps between checkpoints, 0 = at the end [0]", "Eval");
  flag<int64_t>(cmd, *c, "--max-steps", "max_steps", "Stop after this many steps of this run, with a checkpoint", "Eval");
  flag<bool>(cmd, *c, "--plot", "plot", "Write <out>/loss.png at the end (gnuplot)", "Eval");
  flag<uint64_t>(cmd, *c, "--seed", "seed", "Seed of weights, data order and modes [1]", "Machine")
      ->check(in_range<uint64_t>(0, kMaxSeed));
  flag<std::string>(cmd, *c, "--device", "device", "cpu, cuda, cuda:N or auto [auto]", "Machine");
  flag<std::string>(cmd, *c, "--precision", "precision", "auto (bf16 autocast on CUDA), fp32, bf16", "Machine");
  flag<int64_t>(cmd, *c, "--threads", "threads", "CPU threads, 0 = torch's default (at most 1024)", "Machine");
  add_nproc_option(cmd, c->nproc_per_node);
  flag<int64_t>(cmd, *c, "--dist-timeout", "dist_timeout", "Seconds to wait for all processes to meet [300]",
                "Machine");
  cmd->add_flag("--json", c->json, "Print the summary as JSON");
  cmd->callback([c] { run_train(*c); });
}

}  // namespace oryx::cli
