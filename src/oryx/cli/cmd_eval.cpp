// oryx eval: perplexity, synthetic retrieval (MQAR, NIAH, KV lookup) and zero-shot multiple
// choice, each under one mode schedule or a sweep of them. The work lives in src/oryx/eval;
// this file maps flags to the task options, runs every schedule and prints a table (or
// JSON). Every result row states its schedule and the attention fraction it was fed with.
#include <chrono>
#include <cstdio>
#include <iostream>
#include <sstream>

#include "oryx/cli/commands.h"
#include "oryx/cli/flag_limits.h"
#include "oryx/cli/model_options.h"
#include "oryx/checkpoint/checkpoint.h"
#include "oryx/common/error.h"
#include "oryx/eval/mc.h"
#include "oryx/eval/ppl.h"
#include "oryx/eval/sweep.h"

namespace oryx::cli {

namespace {

// Templates are typed on one shell line: a backslash-n in a flag stands for a newline, and
// the printed defaults spell their newlines that way.
std::string unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size() && (s[i + 1] == 'n' || s[i + 1] == '\\')) {
      out += s[i + 1] == 'n' ? '\n' : '\\';
      ++i;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::string escape(const std::string& s) {
  std::string out;
  for (char ch : s) out += ch == '\n' ? std::string("\\n") : ch == '\\' ? std::string("\\\\") : std::string(1, ch);
  return out;
}

struct EvalFlags {
  ModelOptions model;
  std::string task, data, split = "val", schedule, schedules, tokenizer;
  bool json = false;
  int64_t batch = 8, n = 0, seq_len = 0, max_examples = 0;
  uint64_t seed = 0;
  bool no_eod = false;
  std::string token_losses;    // ppl: per-token losses (JSONL)
  std::string request_scores;  // mc: per-request log-likelihoods (JSONL)
  // mqar
  std::vector<int64_t> pairs = MqarEvalOptions{}.pairs;
  int64_t vocab = 0;
  double power_a = MqarOptions{}.power_a;
  bool zero_filler = false;
  bool attend_queries = false;
  // niah and kv
  std::vector<int64_t> lengths = NiahOptions{}.lengths, lines = KvOptions{}.lines;
  std::vector<double> depths;
  int64_t digits = NiahOptions{}.value_digits, haystack_bytes = 4 << 20;
  std::string needle = escape(NiahOptions{}.needle), question = escape(NiahOptions{}.question);
  std::string values = KvOptions{}.values, kv_line = escape(KvOptions{}.line),
              kv_query = escape(KvOptions{}.query);
  // mc
  std::string mc_norm = McOptions{}.norm, mc_metric = "auto";
  int64_t max_context = 0;
};

template <typename T>
std::string join(const std::vector<T>& v) {
  std::ostringstream os;
  for (size_t i = 0; i < v.size(); ++i) os << (i ? "," : "") << v[i];
  return os.str();
}

// The schedules the flags name: --schedule, --schedules, or the model's natural one.
std::vector<Schedule> schedules_of(const EvalFlags& f, const ModelConfig& c) {
  ORYX_CHECK(f.schedule.empty() || f.schedules.empty(), "give --schedule or --schedules, not both");
  if (!f.schedules.empty()) return sweep_parse(f.schedules, c);
  if (!f.schedule.empty()) return {schedule_parse(f.schedule)};
  return {schedule_parse(c.kind == ModelKind::Linear ? "all-L" : "all-A")};
}

std::unique_ptr<Tokenizer> tokenizer_of(const EvalFlags& f, const ModelConfig& c, bool required) {
  const std::string spec = tokenizer_spec_for(f.model, f.tokenizer);
  ORYX_CHECK(!spec.empty() || !required, "--task ", f.task, " needs a tokenizer: pass --tokenizer byte|FILE.model");
  if (spec.empty()) return nullptr;
  auto tok = tokenizer_load(spec);
  ORYX_CHECK(tok->vocab_size() <= c.vocab_size, "tokenizer ", tok->name(), " has ", tok->vocab_size(),
             " tokens, more than the model's vocab_size of ", c.vocab_size);
  return tok;
}

// The ppl window length: --seq-len, else the length the checkpoint was trained at (so that
// the loss is the trainer's validation loss on the same split), else max_seq_len.
int64_t ppl_seq_len(const EvalFlags& f, const ModelConfig& c) {
  if (f.seq_len > 0) return f.seq_len;
  if (f.model.checkpoint.empty()) return c.max_seq_len;
  const int64_t trained = checkpoint_training_seq_len(f.model.checkpoint);
  if (trained > 0) return trained;
  std::fprintf(stderr, "oryx eval: checkpoint %s records no training seq_len; ppl windows use max_seq_len %lld "
               "(set --seq-len)\n", f.model.checkpoint.c_str(), static_cast<long long>(c.max_seq_len));
  return c.max_seq_len;
}

ScoreOptions score_options(const EvalFlags& f, const std::string& label) {
  ScoreOptions s;
  s.batch = f.batch;
  s.progress_label = label;
  return s;
}

// Runs the task under every schedule; returns the rows and the settings used.
std::vector<nlohmann::json> run_task(const EvalFlags& f, OryxModel& model,
                                     const std::vector<Schedule>& schedules, nlohmann::json& settings) {
  const ModelConfig& c = model->config();
  ORYX_CHECK(f.batch >= 1, "--batch-size must be at least 1, got ", f.batch);
  ORYX_CHECK(f.n >= 0 && f.seq_len >= 0 && f.max_examples >= 0,
             "--n, --seq-len and --max-examples must be >= 0");
  settings["seed"] = f.seed;
  settings["batch"] = f.batch;
  if (f.task == "ppl") {
    ORYX_CHECK(!f.data.empty(), "--task ppl needs --data: a dataset folder, a .bin shard or a text file");
    auto tok = tokenizer_of(f, c, false);
    PplOptions o;
    const int64_t T = ppl_seq_len(f, c);
    o.seq_len = T;
    o.batch = f.batch;
    o.max_windows = f.max_examples;
    o.progress = true;
    o.token_losses = f.token_losses;
    PplData data(f.data, f.split, tok.get(), f.max_examples > 0 ? f.max_examples * T + 1 : 0);
    tokenizer_check_same("dataset " + f.data, data.dataset_tokenizer_id(),
                         f.tokenizer.empty() ? "checkpoint " + f.model.checkpoint : "--tokenizer " + f.tokenizer,
                         tokenizer_id_for(f.model, f.tokenizer));
    // Bits per byte need the tokenizer that made the tokens: the dataset's, else the model's.
    std::unique_ptr<Tokenizer> data_tok;
    if (!data.dataset_tokenizer().empty()) data_tok = tokenizer_load(data.dataset_tokenizer());
    const Tokenizer* bytes_tok = data_tok ? data_tok.get() : tok.get();
    std::vector<int32_t> token_bytes;
    if (bytes_tok) token_bytes = token_byte_lengths(*bytes_tok);
    settings["data"] = data.describe();
    settings["seq_len"] = T;
    settings["max_windows"] = f.max_examples;
    return sweep_run(schedules, [&](const Schedule& s) {
      return std::vector<nlohmann::json>{
          ppl_eval(model, data, o, s, bytes_tok ? &token_bytes : nullptr).to_json()};
    });
  }
  if (f.task == "mqar") {
    MqarEvalOptions o;
    o.task.vocab = f.vocab > 0 ? f.vocab : c.vocab_size;
    o.task.seq_len = f.seq_len > 0 ? f.seq_len : o.task.seq_len;
    o.task.power_a = f.power_a;
    o.task.noise_filler = !f.zero_filler;
    o.task.seed = f.seed;
    o.pairs = f.pairs;
    o.examples = f.n > 0 ? f.n : o.examples;
    ORYX_CHECK(o.examples * o.task.seq_len <= kMaxEvalTokens, "--n x --seq-len (", o.examples, " x ", o.task.seq_len,
               ") exceeds ", kMaxEvalTokens, " tokens per pair count");
    o.score = score_options(f, "mqar");
    settings.update({{"vocab", o.task.vocab}, {"seq_len", o.task.seq_len}, {"pairs", o.pairs},
                     {"examples", o.examples}, {"power_a", o.task.power_a},
                     {"filler", o.task.noise_filler ? "noise" : "zero"}});
    settings["attend_queries"] = f.attend_queries;
    auto rows = sweep_run(schedules, sweep_mqar(model, o));
    if (f.attend_queries && c.kind != ModelKind::Oryx)
      std::fprintf(stderr, "oryx eval: --attend-queries skipped: %s has one mode\n", c.name.c_str());
    else if (f.attend_queries)
      for (const auto& row : mqar_eval_attend_queries(model, o)) rows.push_back(row.to_json());
    return rows;
  }
  if (f.task == "niah") {
    ORYX_CHECK(!f.data.empty(),
               "--task niah needs --data: text for the haystack (e.g. a corpus .txt.zst) or a dataset folder");
    auto tok = tokenizer_of(f, c, true);
    NiahOptions o;
    o.lengths = f.lengths;
    if (!f.depths.empty()) o.depths = f.depths;
    o.trials = f.n > 0 ? f.n : o.trials;
    o.value_digits = f.digits;
    o.needle = unescape(f.needle);
    o.question = unescape(f.question);
    o.prepend_eod = !f.no_eod;
    o.seed = f.seed;
    o.score = score_options(f, "niah");
    niah_check(o);
    NiahHaystack hay({f.data}, *tok, f.haystack_bytes);
    settings.update({{"data", f.data}, {"haystack_tokens", hay.total_tokens()}, {"lengths", o.lengths},
                     {"depths", o.depths}, {"trials", o.trials}, {"value_digits", o.value_digits},
                     {"needle", o.needle}, {"question", o.question}, {"prepend_eod", o.prepend_eod},
                     {"tokenizer", tok->name()}});
    return sweep_run(schedules, sweep_niah(model, *tok, hay, o));
  }
  if (f.task == "kv") {
    auto tok = tokenizer_of(f, c, true);
    KvOptions o;
    o.lines = f.lines;
    if (!f.depths.empty()) o.depths = f.depths;
    o.trials = f.n > 0 ? f.n : o.trials;
    o.values = f.values;
    o.line = unescape(f.kv_line);
    o.query = unescape(f.kv_query);
    o.prepend_eod = !f.no_eod;
    o.seed = f.seed;
    o.score = score_options(f, "kv");
    settings.update({{"lines", o.lines}, {"depths", o.depths}, {"trials", o.trials}, {"values", o.values},
                     {"header", o.header}, {"line", o.line}, {"query", o.query}, {"answer", o.answer},
                     {"prepend_eod", o.prepend_eod}, {"tokenizer", tok->name()}});
    return sweep_run(schedules, sweep_kv(model, *tok, o));
  }
  ORYX_CHECK(f.task == "mc", "unknown --task '", f.task, "' (ppl, mqar, niah, kv or mc)");
  ORYX_CHECK(!f.data.empty(), "--task mc needs --data: a task file (.jsonl, .jsonl.gz) or a folder of tasks");
  auto tok = tokenizer_of(f, c, true);
  McOptions o;
  o.norm = f.mc_norm;
  o.prepend_eod = !f.no_eod;
  o.max_context = f.max_context;
  o.request_scores = f.request_scores;
  o.score = score_options(f, "mc");
  std::vector<McTask> tasks;
  for (const auto& path : mc_find_tasks(f.data)) tasks.push_back(mc_load(path, f.mc_metric, f.max_examples));
  settings.update({{"data", f.data}, {"norm", o.norm}, {"metric", f.mc_metric}, {"prepend_eod", o.prepend_eod},
                   {"max_context", o.max_context > 0 ? o.max_context : c.max_seq_len},
                   {"max_examples", f.max_examples}, {"tokenizer", tok->name()}});
  return sweep_run(schedules, [&](const Schedule& s) {
    std::vector<nlohmann::json> rows;
    for (const auto& t : tasks) rows.push_back(mc_eval(model, *tok, t, o, s).to_json());
    return rows;
  });
}

// ---- the human-readable table ----

struct Column {
  const char* header;
  const char* key;
};

std::vector<Column> columns_of(const std::string& task) {
  if (task == "ppl")
    return {{"schedule", "schedule"}, {"attn_frac", "attention_fraction"}, {"loss", "loss"},
            {"ppl", "perplexity"}, {"bpb", "bits_per_byte"}, {"tokens", "tokens"},
            {"loss_A", "loss_mode_a"}, {"loss_L", "loss_mode_l"}};
  if (task == "mqar")
    return {{"schedule", "schedule"}, {"attn_frac", "attention_fraction"}, {"pairs", "pairs"},
            {"seq_len", "seq_len"}, {"examples", "examples"}, {"acc", "accuracy"},
            {"example_acc", "example_accuracy"}};
  if (task == "niah")
    return {{"schedule", "schedule"}, {"attn_frac", "attention_fraction"}, {"length", "length"},
            {"depth", "depth"}, {"depth_got", "depth_achieved"}, {"trials", "examples"},
            {"acc", "accuracy"}, {"token_acc", "token_accuracy"}};
  if (task == "kv")
    return {{"schedule", "schedule"}, {"attn_frac", "attention_fraction"}, {"lines", "lines"},
            {"depth", "depth"}, {"prompt_tok", "prompt_tokens"}, {"trials", "examples"}, {"acc", "accuracy"}};
  return {{"task", "name"}, {"schedule", "schedule"}, {"attn_frac", "attention_fraction"}, {"docs", "examples"},
          {"cut", "truncated"}, {"acc", "acc"}, {"acc_norm", "acc_norm"}, {"bpb", "bpb"}, {"primary", "primary_metric"},
          {"value", "primary"}};
}

std::string cell(const nlohmann::json& v) {
  if (v.is_null()) return "-";
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_float()) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.4f", v.get<double>());
    return buf;
  }
  return v.dump();
}

void print_table(const std::vector<Column>& cols, const std::vector<nlohmann::json>& rows) {
  std::vector<size_t> width;
  for (const auto& c : cols) width.push_back(std::string(c.header).size());
  std::vector<std::vector<std::string>> cells;
  for (const auto& r : rows) {
    cells.emplace_back();
    for (size_t i = 0; i < cols.size(); ++i) {
      cells.back().push_back(cell(r.value(cols[i].key, nlohmann::json())));
      width[i] = std::max(width[i], cells.back().back().size());
    }
  }
  auto line = [&](const std::vector<std::string>& v) {
    for (size_t i = 0; i < v.size(); ++i)
      std::printf(i == 0 ? "%-*s" : "  %*s", static_cast<int>(width[i]), v[i].c_str());
    std::printf("\n");
  };
  std::vector<std::string> head;
  for (const auto& c : cols) head.push_back(c.header);
  line(head);
  for (const auto& r : cells) line(r);
}

void run_eval(const EvalFlags& f) {
  const auto start = std::chrono::steady_clock::now();
  auto model = model_options_load(f.model);
  const auto schedules = schedules_of(f, model->config());
  nlohmann::json settings;
  const auto rows = run_task(f, model, schedules, settings);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const bool retrieval = f.task == "mqar" || f.task == "niah" || f.task == "kv";
  const bool summarise = retrieval && schedules.size() > 1;
  if (f.json) {
    nlohmann::json j = {{"task", f.task},     {"model", model->config().name},
                        {"device", model->device().str()}, {"settings", settings},
                        {"rows", rows},       {"seconds", seconds}};
    if (summarise) j["summary"] = sweep_summary(rows);
    std::cout << j.dump(2) << "\n";
    return;
  }
  std::printf("# oryx eval --task %s: model %s on %s; %s\n", f.task.c_str(), model->config().name.c_str(),
              model->device().str().c_str(), settings.dump().c_str());
  print_table(columns_of(f.task), rows);
  if (summarise) {
    std::printf("\nby schedule:\n");
    print_table({{"schedule", "schedule"}, {"attn_frac", "attention_fraction"}, {"examples", "examples"},
                 {"acc", "accuracy"}},
                sweep_summary(rows));
  }
  std::fprintf(stderr, "[eval %s: %zu schedule(s) in %.1f s]\n", f.task.c_str(), schedules.size(), seconds);
}

}  // namespace

void register_eval(CLI::App& app) {
  auto f = std::make_shared<EvalFlags>();
  auto* cmd = app.add_subcommand("eval", "Evaluate a model: perplexity, retrieval, multiple choice");
  cmd->footer(
      "Tasks (docs/eval.md has the formats and scoring rules):\n"
      "  ppl   loss, perplexity and bits per byte on a dataset split, a .bin shard or text\n"
      "  mqar  multi-query associative recall, accuracy per number of key-value pairs\n"
      "  niah  needle in a haystack of real text, accuracy by context length and depth\n"
      "  kv    key-value lookup in a list of 'key: value' lines, by list length and depth\n"
      "  mc    OLMo in-loop JSONL task files: acc, acc_norm, bits per byte\n"
      "Schedules: all-A, all-L, every:N[:C], first:N, last:N, mask:...; --schedules takes\n"
      "'S1;S2;...' or default (all-L; last:16; last:64; last:256; every:8; every:4; every:2; all-A).\n"
      "Examples:\n"
      "  oryx eval --config configs/oryx-gdn-tiny.json --task mqar --pairs 4,16 --schedules default\n"
      "  oryx eval --checkpoint runs/out/demo/run/final --task ppl --data runs/out/demo/data --split val\n"
      "  oryx eval --checkpoint runs/out/demo/run/final --task niah --data corpus/val.txt.zst \\\n"
      "      --lengths 512,1024 --schedules 'all-L;last:64;all-A' --json\n"
      "  oryx eval --checkpoint runs/out/demo/run/final --task mc --data path/to/olmo/arc_easy");
  model_options_add(cmd, f->model);
  cmd->add_option("--task", f->task, "ppl, mqar, niah, kv or mc")
      ->required()->check(CLI::IsMember({"ppl", "mqar", "niah", "kv", "mc"}))->group("Task");
  cmd->add_option("--data", f->data,
                  "ppl: dataset folder, .bin shard or text; niah: haystack text or dataset folder; "
                  "mc: task file or folder")
      ->group("Task");
  cmd->add_option("--split", f->split, "ppl: dataset split")->capture_default_str()->group("Task");
  cmd->add_option("--token-losses", f->token_losses,
                  "ppl: append every window's tokens, modes and per-token losses to this JSONL file")
      ->group("Task");
  cmd->add_option("--request-scores", f->request_scores,
                  "mc: append every request's log-likelihood to this JSONL file")
      ->group("Task");
  cmd->add_option("--tokenizer", f->tokenizer, "byte or a SentencePiece .model (default: the checkpoint's, else byte)")
      ->group("Task");
  cmd->add_option("--schedule", f->schedule, "Mode schedule (default: all-A, or all-L for linear models)")
      ->group("Schedule");
  cmd->add_option("--schedules", f->schedules, "Sweep: 'S1;S2;...' or default")->group("Schedule");
  cmd->add_flag("--json", f->json, "Print JSON")->group("Common");
  cmd->add_option("--batch-size,--batch", f->batch, "Sequences per forward pass (--batch: deprecated name)")
      ->capture_default_str()->check(in_range<int64_t>(1, kMaxBatch))->group("Common");
  add_seed_option(cmd, "--seed", f->seed, "Seed of the synthetic tasks")->group("Common");
  cmd->add_option("--n", f->n,
                  "Examples per group, 0 = the task's default (mqar " + std::to_string(MqarEvalOptions{}.examples) +
                      " per pair count, niah " + std::to_string(NiahOptions{}.trials) + ", kv " +
                      std::to_string(KvOptions{}.trials) + " per cell)")
      ->capture_default_str()->check(in_range<int64_t>(0, kMaxExamples))->group("Common");
  cmd->add_option("--seq-len", f->seq_len,
                  "ppl: window length (0 = the checkpoint's training seq_len, else max_seq_len); "
                  "mqar: sequence length (0 = " +
                      std::to_string(MqarOptions{}.seq_len) + ")")
      ->capture_default_str()->check(in_range<int64_t>(0, kMaxSeqLen))->group("Common");
  cmd->add_option("--max-examples", f->max_examples, "ppl: windows; mc: documents per task (0 = all)")
      ->capture_default_str()->check(in_range<int64_t>(0, kMaxCount))->group("Common");
  cmd->add_flag("--no-eod", f->no_eod, "niah, kv, mc: do not start prompts with the end-of-document id")
      ->group("Common");
  cmd->add_option("--pairs", f->pairs, "mqar: key-value pair counts, one row each")
      ->delimiter(',')->capture_default_str()->check(in_range<int64_t>(1, kMaxSeqLen))->group("MQAR");
  cmd->add_option("--vocab", f->vocab, "mqar: ids used (0 = the model's vocab_size)")
      ->capture_default_str()->check(in_range<int64_t>(0, kMaxVocab))->group("MQAR");
  cmd->add_option("--power-a", f->power_a, "mqar: query positions ~ (s+1)^(a-1)")
      ->capture_default_str()->check(in_range(1e-9, 100.0))->group("MQAR");
  cmd->add_flag("--zero-filler", f->zero_filler, "mqar: fill with id 0 instead of random ids")->group("MQAR");
  cmd->add_flag("--attend-queries", f->attend_queries,
                "mqar: also score with mode A at the query keys only, L elsewhere (Oryx models)")
      ->group("MQAR");
  cmd->add_option("--lengths", f->lengths, "niah: prompt lengths in tokens")
      ->delimiter(',')->capture_default_str()->check(in_range<int64_t>(1, kMaxSeqLen))->group("NIAH and KV");
  cmd->add_option("--depths", f->depths,
                  "niah, kv: needle / queried-line depths in [0,1] (default niah " + join(NiahOptions{}.depths) +
                      "; kv " + join(KvOptions{}.depths) + ")")
      ->delimiter(',')->check(in_range(0.0, 1.0))->group("NIAH and KV");
  cmd->add_option("--digits", f->digits, "niah: digits of the value")
      ->capture_default_str()->check(in_range<int64_t>(1, 18))->group("NIAH and KV");
  cmd->add_option("--needle", f->needle, "niah: needle sentence, with {key} and {value}")
      ->capture_default_str()->group("NIAH and KV");
  cmd->add_option("--question", f->question, "niah: question, with {key}")
      ->capture_default_str()->group("NIAH and KV");
  cmd->add_option("--haystack-bytes", f->haystack_bytes, "niah: text read for the haystack")
      ->capture_default_str()->check(in_range<int64_t>(1, int64_t(1) << 34))->group("NIAH and KV");
  cmd->add_option("--lines", f->lines, "kv: list lengths")
      ->delimiter(',')->capture_default_str()->check(in_range<int64_t>(1, kMaxSeqLen))->group("NIAH and KV");
  cmd->add_option("--values", f->values, "kv: number, word or mixed")
      ->capture_default_str()->check(CLI::IsMember({"number", "word", "mixed"}))->group("NIAH and KV");
  cmd->add_option("--kv-line", f->kv_line, "kv: line template")->capture_default_str()->group("NIAH and KV");
  cmd->add_option("--kv-query", f->kv_query, "kv: query template")->capture_default_str()->group("NIAH and KV");
  cmd->add_option("--mc-norm", f->mc_norm, "mc: acc_norm divides by the continuation's bytes, chars or tokens")
      ->capture_default_str()->check(CLI::IsMember({"bytes", "chars", "tokens"}))->group("MC");
  cmd->add_option("--mc-metric", f->mc_metric, "mc: auto (from config.json and labels), acc or bpb")
      ->capture_default_str()->check(CLI::IsMember({"auto", "acc", "bpb"}))->group("MC");
  cmd->add_option("--max-context", f->max_context, "mc: tokens fed per request, cut from the left (0 = max_seq_len)")
      ->capture_default_str()->check(in_range<int64_t>(0, kMaxSeqLen))->group("MC");
  cmd->callback([f] { run_eval(*f); });
}

}  // namespace oryx::cli
