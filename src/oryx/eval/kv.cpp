#include "oryx/eval/kv.h"

#include <cmath>
#include <set>

#include "oryx/common/error.h"
#include "oryx/eval/loss.h"
#include "oryx/eval/rng.h"
#include "oryx/eval/words.h"

namespace oryx {

namespace {

std::string draw_value(EvalRng& rng, const std::string& kind, int64_t lines) {
  const bool number = kind == "number" || (kind == "mixed" && rng.below(2) == 0);
  if (number) return std::to_string(rng.below(static_cast<uint64_t>(std::max<int64_t>(1000, 4 * lines))));
  return eval_made_up_word(rng, 1, 2);
}

void append(std::vector<int64_t>& to, const std::vector<int64_t>& ids) {
  to.insert(to.end(), ids.begin(), ids.end());
}

}  // namespace

void kv_check(const KvOptions& o) {
  ORYX_CHECK(!o.lines.empty() && !o.depths.empty(), "kv: give at least one line count and one depth");
  for (int64_t n : o.lines) ORYX_CHECK(n >= 1, "kv: line count ", n, " must be at least 1");
  for (double d : o.depths) ORYX_CHECK(d >= 0 && d <= 1, "kv: depth ", d, " is outside [0, 1]");
  ORYX_CHECK(o.trials >= 1, "kv: trials must be at least 1, got ", o.trials);
  ORYX_CHECK(o.values == "number" || o.values == "word" || o.values == "mixed",
             "kv: values must be number, word or mixed, got '", o.values, "'");
  eval_check_template("kv line", o.line, true, true, false);
  eval_check_template("kv query", o.query, true, false, true);
  eval_check_template("kv answer", o.answer, false, true, false);
  eval_check_template("kv header", o.header, false, false, true);
}

KvExample kv_example(const Tokenizer& tok, const KvOptions& o, int64_t lines, double depth, int64_t trial) {
  kv_check(o);
  EvalRng rng(eval_stream_seed(o.seed, {static_cast<uint64_t>(lines), static_cast<uint64_t>(trial)}));
  std::vector<std::string> keys, values;
  std::set<std::string> keys_seen, values_seen;
  while (static_cast<int64_t>(keys.size()) < lines) {
    auto k = eval_made_up_word(rng, 2, 3);
    if (keys_seen.insert(k).second) keys.push_back(std::move(k));
  }
  while (static_cast<int64_t>(values.size()) < lines) {
    auto v = draw_value(rng, o.values, lines);
    if (!keys_seen.count(v) && values_seen.insert(v).second) values.push_back(std::move(v));
  }
  KvExample ex;
  ex.line_index = static_cast<int64_t>(std::llround(depth * static_cast<double>(lines - 1)));
  ex.key = keys[static_cast<size_t>(ex.line_index)];
  ex.value = values[static_cast<size_t>(ex.line_index)];
  if (o.prepend_eod) ex.prompt.push_back(tok.eod_id());
  append(ex.prompt, tok.encode(o.header));
  for (int64_t i = 0; i < lines; ++i)
    append(ex.prompt, tok.encode(eval_fill(o.line, keys[static_cast<size_t>(i)], values[static_cast<size_t>(i)])));
  ex.query_at = static_cast<int64_t>(ex.prompt.size());
  append(ex.prompt, tok.encode(eval_fill(o.query, ex.key, "")));
  ex.answer = tok.encode(eval_fill(o.answer, ex.key, ex.value));
  ORYX_CHECK(!ex.answer.empty(), "kv: the answer encodes to no tokens");
  return ex;
}

nlohmann::json KvRow::to_json() const {
  return {{"task", "kv"},
          {"schedule", schedule},
          {"attention_fraction", attention_fraction()},
          {"lines", lines},
          {"depth", depth},
          {"examples", trials},
          {"prompt_tokens", prompt_tokens},
          {"accuracy", accuracy},
          {"answer_log_likelihood", answer_log_likelihood},
          {"tokens_fed", fed},
          {"tokens_a", fed_a}};
}

std::vector<KvRow> kv_eval(OryxModel& model, const Tokenizer& tok, const KvOptions& o,
                           const Schedule& schedule) {
  kv_check(o);
  std::vector<ScoredSequence> seqs;
  for (int64_t lines : o.lines) {
    for (double depth : o.depths) {
      for (int64_t t = 0; t < o.trials; ++t) {
        auto ex = kv_example(tok, o, lines, depth, t);
        ScoredSequence s;
        s.prompt_len = static_cast<int64_t>(ex.prompt.size());
        s.tokens = ex.prompt;
        s.tokens.insert(s.tokens.end(), ex.answer.begin(), ex.answer.end() - 1);
        s.targets.assign(ex.prompt.size() - 1, kIgnoreIndex);
        s.targets.insert(s.targets.end(), ex.answer.begin(), ex.answer.end());
        ORYX_CHECK(static_cast<int64_t>(s.tokens.size()) <= model->config().max_seq_len, "kv: ", lines,
                   " lines make a sequence of ", s.tokens.size(), " tokens, more than the model's max_seq_len of ",
                   model->config().max_seq_len, " (use fewer --lines)");
        seqs.push_back(std::move(s));
      }
    }
  }
  ScoreOptions so = o.score;
  so.vocab_limit = tok.vocab_size();
  const auto scores = score_sequences(model, seqs, schedule, so);
  std::vector<KvRow> rows;
  size_t i = 0;
  for (int64_t lines : o.lines) {
    for (double depth : o.depths) {
      KvRow row;
      row.schedule = eval_schedule_name(schedule);
      row.lines = lines;
      row.depth = depth;
      row.trials = o.trials;
      int64_t exact = 0;
      for (int64_t t = 0; t < o.trials; ++t, ++i) {
        exact += scores[i].exact();
        row.prompt_tokens += static_cast<double>(seqs[i].prompt_len) / static_cast<double>(o.trials);
        row.answer_log_likelihood += scores[i].log_likelihood / static_cast<double>(o.trials);
        row.fed += scores[i].fed;
        row.fed_a += scores[i].fed_a;
      }
      row.accuracy = static_cast<double>(exact) / static_cast<double>(o.trials);
      rows.push_back(row);
    }
  }
  return rows;
}

}  // namespace oryx
