// oryx generate: prefill a prompt under a mode schedule, then decode token by token.
#include <iostream>
#include <sstream>

#include "oryx/cli/commands.h"
#include "oryx/cli/flag_limits.h"
#include "oryx/cli/model_options.h"
#include "oryx/common/error.h"
#include "oryx/data/tokenizer.h"
#include "oryx/generate/generate.h"

namespace oryx::cli {

namespace {

struct GenerateCliOptions {
  ModelOptions model;
  std::string prompt, tokens, tokenizer, schedule;
  int64_t max_new = 32;
  SamplingOptions sampling;
  bool json = false;
};

std::vector<int64_t> parse_ids(const std::string& s) {
  std::vector<int64_t> ids;
  std::stringstream ss(s);
  std::string part;
  while (std::getline(ss, part, ',')) {
    size_t used = 0;
    long long v = 0;
    try {
      v = std::stoll(part, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    ORYX_CHECK(used == part.size() && !part.empty(), "--tokens: '", part,
               "' is not an integer (expected comma-separated ids, e.g. 1,2,3)");
    ids.push_back(v);
  }
  ORYX_CHECK(!ids.empty(), "--tokens: no ids given");
  return ids;
}

void run_generate(const GenerateCliOptions& o) {
  ORYX_CHECK(o.prompt.empty() != o.tokens.empty(), "give exactly one of --prompt TEXT or --tokens IDS");
  auto model = model_options_load(o.model);
  const auto& c = model->config();
  std::unique_ptr<Tokenizer> tok;
  std::string tok_spec = tokenizer_spec_for(o.model, o.tokenizer);
  if (!tok_spec.empty()) tok = tokenizer_load(tok_spec);
  std::vector<int64_t> ids;
  if (!o.prompt.empty()) {
    ORYX_CHECK(tok, "--prompt needs a tokenizer: pass --tokenizer byte|FILE.model or use --tokens");
    ids = tok->encode(o.prompt);
    ORYX_CHECK(!ids.empty(), "--prompt encodes to no tokens");
  } else {
    ids = parse_ids(o.tokens);
  }
  std::string sched_spec = o.schedule;
  if (sched_spec.empty())
    sched_spec = c.kind == ModelKind::Linear ? "all-L" : "all-A";
  Schedule schedule = schedule_parse(sched_spec);

  auto prompt = torch::tensor(ids, torch::kLong).unsqueeze(0);
  GenerateOptions g;
  g.max_new = o.max_new;
  g.sampling = o.sampling;
  if (tok) {
    ORYX_CHECK(tok->vocab_size() <= c.vocab_size, "tokenizer ", tok->name(), " has ",
               tok->vocab_size(), " tokens, more than the model's vocab_size of ", c.vocab_size);
    g.vocab_limit = tok->vocab_size();
  }
  auto r = generate(model, prompt, schedule, g);
  const auto& out = r.tokens[0];
  std::string text = tok ? tok->decode(out) : "";
  std::string modes;
  for (bool a : r.modes) modes += a ? 'A' : 'L';
  double decode_tps = r.decode_ms > 0 ? r.decode_steps / (r.decode_ms / 1000.0) : 0.0;
  if (o.json) {
    nlohmann::json j = {{"prompt_tokens", ids},       {"tokens", out},
                        {"schedule", schedule.describe()},
                        {"modes", modes},             {"attention_fraction", r.attention_fraction},
                        {"prefill_ms", r.prefill_ms}, {"decode_ms", r.decode_ms},
                        {"decode_steps", r.decode_steps}, {"device", model->device().str()}};
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
      "Examples:\n"
      "  oryx generate --config configs/oryx-gdn-tiny.json --tokens 1,2,3 --schedule last:2 --max-new 8\n"
      "  oryx generate --checkpoint runs/out/demo/run/final --prompt 'The' --schedule every:4:16");
  model_options_add(cmd, o->model);
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
  cmd->add_flag("--json", o->json, "Print JSON");
  cmd->callback([o] { run_generate(*o); });
}

}  // namespace oryx::cli
