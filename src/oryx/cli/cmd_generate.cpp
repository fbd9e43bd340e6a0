// oryx generate: prefill a prompt under a mode schedule, then decode token by token; or, with
// --prompts, a JSONL file of prompts in batches (generate/prompts_file.h).
#include <chrono>
#include <filesystem>
#include <iostream>

#include "oryx/cli/commands.h"
#include "oryx/cli/int_list.h"
#include "oryx/cli/flag_limits.h"
#include "oryx/cli/model_options.h"
#include "oryx/common/atomic_file.h"
#include "oryx/common/error.h"
#include "oryx/common/process_clock.h"
#include "oryx/data/tokenizer.h"
#include "oryx/generate/generate.h"
#include "oryx/generate/prompts_file.h"

namespace oryx::cli {

namespace {

struct GenerateCliOptions {
  ModelOptions model;
  std::string prompt, tokens, tokenizer, schedule;
  int64_t max_new = 32;
  SamplingOptions sampling;
  std::vector<std::string> stop;
  bool json = false;
  // --prompts mode
  std::string prompts, out;
  int64_t batch_size = 16;
  bool overwrite = false;
};

std::unique_ptr<Tokenizer> load_tokenizer(const GenerateCliOptions& o, const ModelConfig& c) {
  std::string spec = tokenizer_spec_for(o.model, o.tokenizer);
  if (spec.empty()) return nullptr;
  auto tok = tokenizer_load(spec);
  ORYX_CHECK(tok->vocab_size() <= c.vocab_size, "tokenizer ", tok->name(), " has ", tok->vocab_size(),
             " tokens, more than the model's vocab_size of ", c.vocab_size);
  return tok;
}

void run_generate_prompts(const GenerateCliOptions& o) {
  ORYX_CHECK(o.prompt.empty() && o.tokens.empty() && !o.json,
             "--prompts takes no --prompt, --tokens or --json (its output is JSONL)");
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!o.out.empty()) {
    ORYX_CHECK(!fs::is_directory(o.out, ec), "--out '", o.out, "' is a folder, not a file");
    ORYX_CHECK(o.overwrite || !fs::exists(o.out, ec), "--out '", o.out,
               "' already exists; pass --overwrite or choose another --out");
  }
  auto model = model_options_load(o.model);
  const auto& c = model->config();
  auto tok = load_tokenizer(o, c);
  PromptsFileDefaults defaults{o.schedule, o.max_new, o.stop, o.sampling.seed};
  if (!o.schedule.empty()) schedule_parse(o.schedule);  // a bad --schedule is named as the flag
  auto lines = prompts_file_read(o.prompts, c, tok.get(), defaults);
  BatchGenerateOptions g;
  g.sampling = o.sampling;
  g.tokenizer = tok.get();
  g.vocab_limit = tok ? tok->vocab_size() : 0;
  std::string all;
  int64_t new_tokens = 0;
  auto t0 = std::chrono::steady_clock::now();
  prompts_file_generate(model, lines, o.batch_size, g, [&](const nlohmann::ordered_json& j) {
    new_tokens += static_cast<int64_t>(j["tokens"].size());
    std::string line = j.dump() + "\n";
    if (o.out.empty()) std::cout << line << std::flush;
    else all += line;
  });
  if (!o.out.empty()) atomic_write_text(o.out, all);
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::cerr << "[" << lines.size() << " prompts in batches of up to " << o.batch_size << "; " << new_tokens
            << " new tokens in " << s << " s on " << model->device() << "]\n";
}

void run_generate(const GenerateCliOptions& o) {
  if (!o.prompts.empty()) return run_generate_prompts(o);
  ORYX_CHECK(o.prompt.empty() != o.tokens.empty(), "give exactly one of --prompt TEXT or --tokens IDS");
  const double command_start_ms = ms_since_process_start();
  const auto t_load = std::chrono::steady_clock::now();
  auto model = model_options_load(o.model);
  const double load_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t_load).count();
  const auto& c = model->config();
  auto tok = load_tokenizer(o, c);
  std::vector<int64_t> ids;
  if (!o.prompt.empty()) {
    ORYX_CHECK(tok, "--prompt needs a tokenizer: pass --tokenizer byte|FILE.model or use --tokens");
    ids = tok->encode(o.prompt);
    ORYX_CHECK(!ids.empty(), "--prompt encodes to no tokens");
  } else {
    ids = parse_int_list("--tokens", o.tokens);
    ORYX_CHECK(!ids.empty(), "--tokens: no ids given");
  }
  std::string sched_spec = o.schedule;
  if (sched_spec.empty())
    sched_spec = c.kind == ModelKind::Linear ? "all-L" : "all-A";
  Schedule schedule = schedule_parse(sched_spec);

  auto prompt = torch::tensor(ids, torch::kLong).unsqueeze(0);
  GenerateOptions g;
  g.max_new = o.max_new;
  g.sampling = o.sampling;
  // The end-of-document id and the stop strings end it, as they do a --prompts line.
  StopRule stop{tok.get(), o.stop};
  stop_rule_check(stop, "--stop: ");
  if (tok) {
    g.vocab_limit = tok->vocab_size();
    g.stop_when = [&stop](const std::vector<int64_t>& generated) { return stop_check(stop, generated).has_value(); };
  }
  const double generate_start_ms = ms_since_process_start();
  auto r = generate(model, prompt, schedule, g);
  const auto& out = r.tokens[0];
  std::string text = stop_text(stop, out);
  StopReason reason = stop_check(stop, out).value_or(StopReason::MaxNew);
  std::string modes;
  for (bool a : r.modes) modes += a ? 'A' : 'L';
  double decode_tps = r.decode_ms > 0 ? r.decode_steps / (r.decode_ms / 1000.0) : 0.0;
  if (o.json) {
    nlohmann::json j = {{"prompt_tokens", ids},       {"tokens", out},
                        {"schedule", schedule.describe()},
                        {"modes", modes},             {"attention_fraction", r.attention_fraction},
                        {"prefill_ms", r.prefill_ms}, {"decode_ms", r.decode_ms},
                        {"decode_steps", r.decode_steps}, {"device", model->device().str()},
                        {"stop_reason", stop_reason_name(reason)}};
    // The cold start: from the process's start (libraries loaded before main() included).
    if (command_start_ms >= 0)
      j["timings_ms"] = {{"process_start_to_command", command_start_ms},
                         {"model_load", load_ms},
                         {"first_token_since_process_start",
                          r.tokens[0].empty() ? nlohmann::json(nullptr) : nlohmann::json(generate_start_ms + r.first_token_ms)}};
    if (tok) j["text"] = text;
    std::cout << j.dump(2) << "\n";
    return;
  }
  if (tok) {
    std::cout << (o.prompt.empty() ? tok->decode(ids) : o.prompt) << text << "\n";
  } else {
    for (size_t i = 0; i < out.size(); ++i) std::cout << (i ? "," : "") << out[i];
    std::cout << "\n";
  }
  std::cerr << "[" << ids.size() << " prompt + " << out.size() << " new tokens; schedule "
            << schedule.describe() << "; attention fraction " << r.attention_fraction
            << "; prefill " << r.prefill_ms << " ms; decode " << decode_tps << " tok/s on "
            << model->device() << "]\n";
}

}  // namespace

void register_generate(CLI::App& app) {
  auto o = std::make_shared<GenerateCliOptions>();
  auto* cmd = app.add_subcommand("generate", "Generate text with any mode schedule");
  cmd->footer(
      "Schedules: all-A, all-L, every:N[:C], first:N, last:N, mask:AL..., mask-file:PATH,\n"
      "optionally followed by ,gen=A|L|schedule|last for the generated tokens.\n"
      "A sequence ends at the tokenizer's end-of-document id, at a --stop string or after --max-new.\n"
      "--prompts FILE.jsonl: one {\"prompt\": TEXT} or {\"tokens\": [IDS]} per line, optionally with\n"
      "\"schedule\", \"max_new\", \"stop\", \"seed\" and \"id\"; one JSON line out per prompt, in order.\n"
      "Examples:\n"
      "  oryx generate --config configs/oryx-gdn-tiny.json --tokens 1,2,3 --schedule last:2 --max-new 8\n"
      "  oryx generate --checkpoint runs/out/demo/run/final --prompt 'The' --schedule every:4:16\n"
      "  oryx generate --checkpoint runs/out/demo/run/final --prompts prompts.jsonl --out answers.jsonl --stop '###'");
  model_options_add(cmd, o->model);
  model_options_add_precision(cmd, o->model);
  cmd->add_option("--prompt", o->prompt, "Prompt text (needs a tokenizer)")->group("Input");
  cmd->add_option("--tokens", o->tokens, "Prompt as comma-separated token ids")->group("Input");
  cmd->add_option("--tokenizer", o->tokenizer,
                  "byte or a SentencePiece .model (default: the checkpoint's, else byte)")->group("Input");
  cmd->add_option("--schedule", o->schedule,
                  "Mode schedule (default: all-A, or all-L for linear models)")->group("Generation");
  cmd->add_option("--max-new", o->max_new, "Tokens to generate")
      ->capture_default_str()->check(in_range<int64_t>(0, kMaxSeqLen))->group("Generation");
  cmd->add_option("--temperature", o->sampling.temperature, "0 = greedy")
      ->capture_default_str()->check(in_range(0.0, 1000.0))->group("Sampling");
  cmd->add_option("--top-k", o->sampling.top_k, "Keep the k most likely tokens (0 = all)")
      ->capture_default_str()->check(in_range<int64_t>(0, kMaxVocab))->group("Sampling");
  cmd->add_option("--top-p", o->sampling.top_p, "Nucleus: smallest set with this probability")
      ->capture_default_str()->group("Sampling");
  add_seed_option(cmd, "--seed", o->sampling.seed, "Sampling seed")->group("Sampling");
  cmd->add_option("--stop", o->stop, "End a sequence at this text (repeatable; needs a tokenizer)")
      ->group("Generation");
  auto* prompts = cmd->add_option("--prompts", o->prompts, "JSONL file of prompts, generated in batches")
                      ->group("Batch");
  cmd->add_option("--out", o->out, "JSONL answers file (default: stdout)")->needs(prompts)->group("Batch");
  cmd->add_flag("--overwrite", o->overwrite, "Replace an existing --out file")->needs(prompts)->group("Batch");
  cmd->add_option("--batch-size", o->batch_size, "Prompts decoded together")
      ->capture_default_str()->check(in_range<int64_t>(1, kMaxBatch))->needs(prompts)->group("Batch");
  cmd->add_flag("--json", o->json, "Print JSON");
  cmd->callback([o] { run_generate(*o); });
}

}  // namespace oryx::cli
