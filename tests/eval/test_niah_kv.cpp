// NIAH and KV lookup: prompts are fixed by their seed, put the needle (or queried line) where
// the depth says, carry the value only where the task defines it (never in the question),
// and evaluation rows state the attention fraction they were fed with.
#include <gtest/gtest.h>

#include <fstream>

#include "oryx/common/error.h"
#include "oryx/data/synthetic.h"
#include "oryx/eval/kv.h"
#include "oryx/eval/niah.h"
#include "support/models.h"
#include "support/temp_dir.h"

namespace oryx::testing {
namespace {

int64_t occurrences(const std::string& text, const std::string& what) {
  int64_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

std::string slice(const ByteTokenizer& tok, const std::vector<int64_t>& ids, int64_t from, int64_t to) {
  return tok.decode(std::vector<int64_t>(ids.begin() + from, ids.begin() + to));
}

// A haystack of prose: two synthetic documents without recall blocks.
std::string write_haystack(const TempDir& dir) {
  SyntheticOptions s;
  s.recall_fraction = 0;
  s.doc_chars = 3000;
  std::ofstream out(dir.file("hay.txt"));
  out << synthetic_document(s, 0) << "\n\x1e\n" << synthetic_document(s, 1) << "\n";
  return dir.file("hay.txt");
}

TEST(EvalNiah, PromptsAreSeededAndPlaceTheNeedleAtDepth) {
  TempDir dir;
  ByteTokenizer tok;
  NiahHaystack hay({write_haystack(dir)}, tok, 1 << 20);
  ASSERT_GT(hay.total_tokens(), 2000);
  NiahOptions o;
  o.seed = 3;
  const int64_t L = 600;
  const auto a = niah_example(hay, tok, o, L, 0.5, 2);
  EXPECT_EQ(niah_example(hay, tok, o, L, 0.5, 2).prompt, a.prompt);
  EXPECT_NE(niah_example(hay, tok, o, L, 0.5, 3).prompt, a.prompt);

  std::vector<int64_t> at;
  std::vector<int64_t> without_needle;
  for (double depth : {0.0, 0.25, 0.5, 0.75, 1.0}) {
    const auto ex = niah_example(hay, tok, o, L, depth, 2);
    ASSERT_EQ(static_cast<int64_t>(ex.prompt.size()), L);
    EXPECT_EQ(ex.prompt[0], tok.eod_id());
    EXPECT_EQ(ex.key, a.key);
    EXPECT_EQ(ex.value, a.value);
    const std::string prompt = tok.decode(ex.prompt);
    const std::string needle = slice(tok, ex.prompt, ex.needle_at, ex.needle_at + ex.needle_tokens);
    EXPECT_EQ(needle, "The special magic number for " + ex.key + " is " + ex.value + ". ");
    EXPECT_EQ(occurrences(prompt, ex.value), 1) << "the value appears only in the needle";
    const std::string question = slice(tok, ex.prompt, ex.question_at, L);
    EXPECT_EQ(question, "\n\nWhat is the special magic number for " + ex.key + "? The special magic number for " +
                            ex.key + " is");
    EXPECT_EQ(occurrences(slice(tok, ex.prompt, 0, ex.needle_at), ex.key), 0) << "the key is not in the haystack";
    EXPECT_EQ(tok.decode(ex.answer), " " + ex.value);
    EXPECT_NEAR(ex.depth, depth, 0.15);
    at.push_back(ex.needle_at);
    // The same haystack at every depth: removing the needle gives the same tokens.
    std::vector<int64_t> rest(ex.prompt.begin(), ex.prompt.begin() + ex.needle_at);
    rest.insert(rest.end(), ex.prompt.begin() + ex.needle_at + ex.needle_tokens, ex.prompt.end());
    if (without_needle.empty()) without_needle = rest;
    EXPECT_EQ(rest, without_needle);
  }
  EXPECT_EQ(at.front(), 1) << "depth 0: right after the end-of-document id";
  for (size_t i = 1; i < at.size(); ++i) EXPECT_GE(at[i], at[i - 1]);
  const auto last = niah_example(hay, tok, o, L, 1.0, 2);
  EXPECT_EQ(last.needle_at + last.needle_tokens, last.question_at) << "depth 1: just before the question";
}

TEST(EvalNiah, QuestionMayNotCarryTheValue) {
  NiahOptions o;
  o.question = "The number for {key} is {value}. Again:";
  EXPECT_THROW(niah_check(o), Error);
  o = NiahOptions{};
  o.depths = {1.5};
  EXPECT_THROW(niah_check(o), Error);
}

TEST(EvalKv, PromptsAreSeededAndQueryTheLineAtDepth) {
  ByteTokenizer tok;
  KvOptions o;
  o.seed = 5;
  for (const char* values : {"number", "word", "mixed"}) {
    o.values = values;
    const auto a = kv_example(tok, o, 9, 0.5, 1);
    EXPECT_EQ(kv_example(tok, o, 9, 0.5, 1).prompt, a.prompt);
    EXPECT_NE(kv_example(tok, o, 9, 0.5, 2).prompt, a.prompt);
    for (double depth : {0.0, 0.5, 1.0}) {
      const auto ex = kv_example(tok, o, 9, depth, 1);
      EXPECT_EQ(ex.line_index, std::llround(depth * 8));
      const std::string prompt = tok.decode(ex.prompt);
      EXPECT_EQ(prompt.rfind("facts:\n", 0), 0u);
      EXPECT_EQ(occurrences(prompt, "\n" + ex.key + ": " + ex.value + "\n"), 1);
      EXPECT_EQ(occurrences(prompt, ": " + ex.value + "\n"), 1) << "values are distinct";
      const std::string query = slice(tok, ex.prompt, ex.query_at, static_cast<int64_t>(ex.prompt.size()));
      EXPECT_EQ(query, "recall:\n" + ex.key + "?");
      EXPECT_EQ(tok.decode(ex.answer), " " + ex.value);
      // The queried line sits at its index: count the lines before it.
      const auto line_at = prompt.find("\n" + ex.key + ": ");
      EXPECT_EQ(occurrences(prompt.substr(0, line_at + 1), "\n") - 1, ex.line_index);
    }
  }
  o.query = "recall {key}: {value}";
  EXPECT_THROW(kv_check(o), Error);
}

TEST(EvalRetrieval, RowsStateAttentionFraction) {
  TempDir dir;
  ByteTokenizer tok;
  auto model = model_create(shipped_config("oryx-gdn-tiny"), 4);
  NiahHaystack hay({write_haystack(dir)}, tok, 1 << 20);
  NiahOptions n;
  n.lengths = {192};  // the byte-level needle and question take 145 of them
  n.depths = {0.0, 1.0};
  n.trials = 2;
  KvOptions k;
  k.lines = {4};
  k.depths = {0.5};
  k.trials = 3;
  for (const char* spec : {"all-L", "all-A", "last:16"}) {
    const Schedule s = schedule_parse(spec);
    const auto niah = niah_eval(model, tok, hay, n, s);
    ASSERT_EQ(niah.size(), 2u);
    const auto kv = kv_eval(model, tok, k, s);
    ASSERT_EQ(kv.size(), 1u);
    for (const auto& j : {niah[0].to_json(), niah[1].to_json(), kv[0].to_json()}) {
      EXPECT_EQ(j["schedule"], spec);
      const double f = j["attention_fraction"].get<double>();
      if (std::string(spec) == "all-L") {
        EXPECT_EQ(f, 0.0);
      }
      if (std::string(spec) == "all-A") {
        EXPECT_EQ(f, 1.0);
      }
      EXPECT_EQ(f, j["tokens_a"].get<double>() / j["tokens_fed"].get<double>());
      EXPECT_GE(j["accuracy"].get<double>(), 0.0);
    }
    // NIAH feeds 192 prompt tokens and all but the last of the 7 answer tokens.
    EXPECT_EQ(niah[0].fed, 2 * (192 + 7 - 1));
  }
}

}  // namespace
}  // namespace oryx::testing
