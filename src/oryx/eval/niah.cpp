#include "oryx/eval/niah.h"

#include <cmath>

#include "oryx/common/error.h"
#include "oryx/data/corpus.h"
#include "oryx/data/dataset_text.h"
#include "oryx/eval/loss.h"
#include "oryx/eval/rng.h"
#include "oryx/eval/words.h"

namespace oryx {

namespace {

// Splits `doc` after ". ", "! ", "? " and newlines; the separators stay with their sentence.
void split_sentences(const std::string& doc, std::vector<std::string>& out) {
  std::string cur;
  for (size_t i = 0; i < doc.size(); ++i) {
    cur += doc[i];
    const bool stop = (doc[i] == '.' || doc[i] == '!' || doc[i] == '?') && i + 1 < doc.size() && doc[i + 1] == ' ';
    if (stop) cur += doc[++i];
    if (stop || doc[i] == '\n') {
      out.push_back(std::move(cur));
      cur.clear();
    }
  }
  if (!cur.empty()) out.push_back(std::move(cur));
  if (!out.empty()) out.back() += "\n\n";
}

struct Piece {
  int64_t first = 0, count = 0;  // sentences [first, first+count) of the haystack, cyclically
  std::vector<int64_t> bounds;   // token offset of each sentence start, then H
};

// The sentences from `first` on that cover H tokens; the last one is cut to fit.
Piece take(const NiahHaystack& hay, int64_t first, int64_t H) {
  Piece p;
  p.first = first;
  int64_t have = 0;
  while (have < H) {
    p.bounds.push_back(have);
    have += static_cast<int64_t>(hay.tokens((first + p.count) % hay.sentences()).size());
    ++p.count;
  }
  p.bounds.push_back(H);
  return p;
}

bool piece_contains(const NiahHaystack& hay, const Piece& p, const std::string& s) {
  for (int64_t i = 0; i < p.count; ++i)
    if (hay.text((p.first + i) % hay.sentences()).find(s) != std::string::npos) return true;
  return false;
}

}  // namespace

NiahHaystack::NiahHaystack(const std::vector<std::string>& paths, const Tokenizer& tok, int64_t max_bytes) {
  ORYX_CHECK(max_bytes > 0, "niah: haystack bytes must be positive, got ", max_bytes);
  int64_t bytes = 0;
  auto take = [&](const std::string& doc) {
    split_sentences(doc, text_);
    bytes += static_cast<int64_t>(doc.size());
    return bytes < max_bytes;
  };
  std::vector<std::string> corpus;
  for (const auto& path : paths) {
    if (!is_dataset_folder(path)) {
      corpus.push_back(path);
      continue;
    }
    // A prepared dataset holds tokens: its held-out text is decoded back.
    const Dataset ds = dataset_open(path);
    if (bytes < max_bytes) dataset_for_each_document(ds, dataset_text_split(ds), take);
  }
  if (!corpus.empty()) {
    CorpusReader reader(corpus);
    while (bytes < max_bytes && reader.next()) take(reader.text());
  }
  ORYX_CHECK(!text_.empty(), "niah: the haystack data holds no text");
  for (const auto& s : text_) {
    tokens_.push_back(tok.encode(s));
    total_tokens_ += static_cast<int64_t>(tokens_.back().size());
  }
}

void niah_check(const NiahOptions& o) {
  ORYX_CHECK(!o.lengths.empty() && !o.depths.empty(), "niah: give at least one length and one depth");
  for (double d : o.depths) ORYX_CHECK(d >= 0 && d <= 1, "niah: depth ", d, " is outside [0, 1]");
  for (int64_t l : o.lengths) ORYX_CHECK(l > 0, "niah: length ", l, " must be positive");
  ORYX_CHECK(o.trials >= 1, "niah: trials must be at least 1, got ", o.trials);
  ORYX_CHECK(o.value_digits >= 1 && o.value_digits <= 18, "niah: value digits must be in [1, 18], got ",
             o.value_digits);
  eval_check_template("niah needle", o.needle, true, true, false);
  eval_check_template("niah question", o.question, true, false, true);
}

NiahExample niah_example(const NiahHaystack& hay, const Tokenizer& tok, const NiahOptions& o,
                         int64_t length, double depth, int64_t trial) {
  niah_check(o);
  ORYX_CHECK(hay.sentences() > 0, "niah: the haystack holds no text");
  EvalRng rng(eval_stream_seed(o.seed, {static_cast<uint64_t>(length), static_cast<uint64_t>(trial)}));
  const auto first = static_cast<int64_t>(rng.below(static_cast<uint64_t>(hay.sentences())));
  NiahExample ex;
  std::vector<int64_t> needle, question;
  Piece piece;
  for (int attempt = 0;; ++attempt) {
    ORYX_CHECK(attempt < 100, "niah: could not draw a key and value absent from the haystack");
    ex.key = eval_made_up_word(rng, 3, 4);
    ex.value = eval_digits(rng, o.value_digits);
    needle = tok.encode(eval_fill(o.needle, ex.key, ex.value) + " ");
    question = tok.encode("\n\n" + eval_fill(o.question, ex.key, ex.value));
    const int64_t H = length - (o.prepend_eod ? 1 : 0) - static_cast<int64_t>(needle.size() + question.size());
    ORYX_CHECK(H >= 1, "niah: length ", length, " leaves no room for a haystack around a needle of ",
               needle.size(), " and a question of ", question.size(), " tokens");
    ORYX_CHECK(hay.total_tokens() >= H, "niah: the haystack holds ", hay.total_tokens(),
               " tokens, fewer than the ", H, " a prompt of ", length,
               " needs (give more text, or a larger haystack size)");
    piece = take(hay, first, H);
    if (!piece_contains(hay, piece, ex.key) && !piece_contains(hay, piece, ex.value)) break;
  }
  const int64_t H = piece.bounds.back();
  // The sentence boundary nearest to depth * H (the first of two equally near).
  size_t at = 0;
  for (size_t j = 1; j < piece.bounds.size(); ++j)
    if (std::abs(piece.bounds[j] - depth * H) < std::abs(piece.bounds[at] - depth * H)) at = j;
  const int64_t cut = piece.bounds[at];

  if (o.prepend_eod) ex.prompt.push_back(tok.eod_id());
  auto append_haystack = [&](int64_t from, int64_t to) {
    for (int64_t i = 0; i < piece.count; ++i) {
      const auto& t = hay.tokens((piece.first + i) % hay.sentences());
      const int64_t lo = std::max(from, piece.bounds[static_cast<size_t>(i)]);
      const int64_t hi = std::min(to, piece.bounds[static_cast<size_t>(i)] + static_cast<int64_t>(t.size()));
      for (int64_t k = lo; k < hi; ++k) ex.prompt.push_back(t[static_cast<size_t>(k - piece.bounds[static_cast<size_t>(i)])]);
    }
  };
  append_haystack(0, cut);
  ex.needle_at = static_cast<int64_t>(ex.prompt.size());
  ex.needle_tokens = static_cast<int64_t>(needle.size());
  ex.prompt.insert(ex.prompt.end(), needle.begin(), needle.end());
  append_haystack(cut, H);
  ex.question_at = static_cast<int64_t>(ex.prompt.size());
  ex.prompt.insert(ex.prompt.end(), question.begin(), question.end());
  ex.answer = tok.encode(" " + ex.value);
  ex.depth = H > 0 ? static_cast<double>(cut) / static_cast<double>(H) : 0.0;
  TORCH_INTERNAL_ASSERT(static_cast<int64_t>(ex.prompt.size()) == length);
  return ex;
}

nlohmann::json NiahRow::to_json() const {
  return {{"task", "niah"},
          {"schedule", schedule},
          {"attention_fraction", attention_fraction()},
          {"length", length},
          {"depth", depth},
          {"depth_achieved", depth_achieved},
          {"examples", trials},
          {"accuracy", accuracy},
          {"token_accuracy", token_accuracy},
          {"answer_log_likelihood", answer_log_likelihood},
          {"tokens_fed", fed},
          {"tokens_a", fed_a}};
}

std::vector<NiahRow> niah_eval(OryxModel& model, const Tokenizer& tok, const NiahHaystack& hay,
                               const NiahOptions& o, const Schedule& schedule) {
  niah_check(o);
  struct Group {
    int64_t length;
    double depth;
  };
  std::vector<Group> groups;
  std::vector<ScoredSequence> seqs;
  std::vector<double> achieved;
  for (int64_t length : o.lengths) {
    for (double depth : o.depths) {
      groups.push_back({length, depth});
      for (int64_t t = 0; t < o.trials; ++t) {
        auto ex = niah_example(hay, tok, o, length, depth, t);
        achieved.push_back(ex.depth);
        ScoredSequence s;
        s.prompt_len = length;
        s.tokens = ex.prompt;
        s.tokens.insert(s.tokens.end(), ex.answer.begin(), ex.answer.end() - 1);
        s.targets.assign(static_cast<size_t>(length - 1), kIgnoreIndex);
        s.targets.insert(s.targets.end(), ex.answer.begin(), ex.answer.end());
        ORYX_CHECK(static_cast<int64_t>(s.tokens.size()) <= model->config().max_seq_len, "niah: length ",
                   length, " plus a ", ex.answer.size(), "-token answer exceeds the model's max_seq_len of ",
                   model->config().max_seq_len);
        seqs.push_back(std::move(s));
      }
    }
  }
  ScoreOptions so = o.score;
  so.vocab_limit = tok.vocab_size();
  const auto scores = score_sequences(model, seqs, schedule, so);
  std::vector<NiahRow> rows;
  for (size_t g = 0; g < groups.size(); ++g) {
    NiahRow row;
    row.schedule = eval_schedule_name(schedule);
    row.length = groups[g].length;
    row.depth = groups[g].depth;
    row.trials = o.trials;
    int64_t exact = 0, correct = 0, targets = 0;
    for (int64_t t = 0; t < o.trials; ++t) {
      const size_t i = g * static_cast<size_t>(o.trials) + static_cast<size_t>(t);
      const auto& s = scores[i];
      exact += s.exact();
      correct += s.correct;
      targets += s.targets;
      row.answer_log_likelihood += s.log_likelihood / static_cast<double>(o.trials);
      row.depth_achieved += achieved[i] / static_cast<double>(o.trials);
      row.fed += s.fed;
      row.fed_a += s.fed_a;
    }
    row.accuracy = static_cast<double>(exact) / static_cast<double>(o.trials);
    row.token_accuracy = static_cast<double>(correct) / static_cast<double>(targets);
    rows.push_back(row);
  }
  return rows;
}

}  // namespace oryx
