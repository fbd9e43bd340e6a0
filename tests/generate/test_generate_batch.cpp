// Batched generation (generate/generate_batch.h): prompts of different lengths and schedules
// decoded in one batch give each sequence exactly the tokens generate() gives that prompt
// alone, for every model kind; stops (end-of-document id, stop strings, budgets) end one
// sequence while the others go on.
#include <gtest/gtest.h>

#include <random>

#include "oryx/common/error.h"
#include "oryx/generate/generate.h"
#include "oryx/generate/generate_batch.h"
#include "support/models.h"

namespace oryx::testing {
namespace {

std::vector<int64_t> random_ids(int64_t n, int64_t vocab, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<int64_t> ids;
  for (int64_t i = 0; i < n; ++i) ids.push_back(static_cast<int64_t>(rng() % static_cast<uint64_t>(vocab)));
  return ids;
}

// What `oryx generate --tokens ...` computes for one request alone.
GenerateResult generate_alone(OryxModel& model, const GenerateRequest& r, SamplingOptions sampling,
                              const StopRule& stop = {}) {
  GenerateOptions g;
  g.max_new = r.max_new;
  g.sampling = sampling;
  g.sampling.seed = r.seed;
  if (stop.tokenizer) {
    g.vocab_limit = stop.tokenizer->vocab_size();
    g.stop_when = [&stop](const std::vector<int64_t>& gen) { return stop_check(stop, gen).has_value(); };
  }
  return generate(model, torch::tensor(r.prompt, torch::kLong).unsqueeze(0), r.schedule, g);
}

struct KindCase {
  std::string config;
  std::vector<std::string> schedules;  // one per prompt of kLengths
};
void PrintTo(const KindCase& c, std::ostream* os) { *os << c.config; }

// Lengths around the chunk size (16) and a pair of equal ones; budgets that end at different
// steps, so sequences retire while others decode.
const std::vector<int64_t> kLengths = {1, 5, 17, 33, 5};
const std::vector<int64_t> kMaxNew = {6, 3, 9, 1, 5};

class GenerateBatchExact : public ::testing::TestWithParam<KindCase> {};

TEST_P(GenerateBatchExact, GreedyTokensEqualOnePromptRuns) {
  const auto& p = GetParam();
  auto model = model_create(shipped_config(p.config), 7);
  model->eval();
  std::vector<GenerateRequest> reqs;
  for (size_t i = 0; i < kLengths.size(); ++i) {
    GenerateRequest r;
    r.prompt = random_ids(kLengths[i], model->config().vocab_size, 100 + i);
    r.schedule = schedule_parse(p.schedules[i]);
    r.max_new = kMaxNew[i];
    reqs.push_back(r);
  }
  BatchGenerateOptions opts;
  opts.sampling.temperature = 0;
  auto out = generate_batch(model, reqs, opts);
  ASSERT_EQ(out.size(), reqs.size());
  for (size_t i = 0; i < reqs.size(); ++i) {
    auto alone = generate_alone(model, reqs[i], opts.sampling);
    EXPECT_EQ(out[i].tokens, alone.tokens[0]) << "prompt " << i << " (" << kLengths[i] << " tokens, "
                                              << p.schedules[i] << ")";
    EXPECT_EQ(out[i].modes, alone.modes) << "prompt " << i;
    EXPECT_EQ(out[i].stop, StopReason::MaxNew);
    EXPECT_EQ(static_cast<int64_t>(out[i].tokens.size()), kMaxNew[i]);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Kinds, GenerateBatchExact,
    ::testing::Values(
        KindCase{"transformer-tiny", {"all-A", "all-A", "all-A", "all-A", "all-A"}},
        KindCase{"gdn-tiny", {"all-L", "all-L", "all-L", "all-L", "all-L"}},
        KindCase{"mamba2-tiny", {"all-L", "all-L", "all-L", "all-L", "all-L"}},
        KindCase{"oryx-gdn-tiny", {"all-L", "mask:ALLAL", "every:2:4", "last:3,gen=L", "all-A"}},
        KindCase{"oryx-mamba2-tiny", {"all-A,gen=L", "first:2", "last:4", "every:3:2,gen=A", "all-L"}}),
    [](const ::testing::TestParamInfo<KindCase>& info) {
      std::string name = info.param.config;
      for (auto& ch : name)
        if (ch == '-') ch = '_';
      return name;
    });

TEST(GenerateBatch, SampledTokensEqualOnePromptRunsWithTheirSeeds) {
  auto model = model_create(shipped_config("oryx-gdn-tiny"), 3);
  model->eval();
  std::vector<GenerateRequest> reqs;
  for (int64_t i = 0; i < 4; ++i) {
    GenerateRequest r;
    r.prompt = random_ids(1 + 7 * i, 512, 50 + i);
    r.schedule = schedule_parse(i % 2 ? "all-A" : "last:2,gen=L");
    r.max_new = 6;
    r.seed = 11 + static_cast<uint64_t>(i);
    reqs.push_back(r);
  }
  BatchGenerateOptions opts;
  opts.sampling.temperature = 0.9;
  opts.sampling.top_k = 50;
  auto out = generate_batch(model, reqs, opts);
  for (size_t i = 0; i < reqs.size(); ++i)
    EXPECT_EQ(out[i].tokens, generate_alone(model, reqs[i], opts.sampling).tokens[0]) << "prompt " << i;
}

TEST(GenerateBatch, ZeroBudgetPromptGetsNoTokensWhileOthersDecode) {
  auto model = model_create(shipped_config("transformer-tiny"), 1);
  model->eval();
  GenerateRequest none, some;
  none.prompt = {1, 2, 3};
  none.max_new = 0;
  some.prompt = {4};
  some.max_new = 4;
  BatchGenerateOptions opts;
  opts.sampling.temperature = 0;
  auto out = generate_batch(model, {none, some}, opts);
  EXPECT_TRUE(out[0].tokens.empty());
  EXPECT_EQ(out[0].modes.size(), 3u);
  EXPECT_EQ(out[1].tokens, generate_alone(model, some, opts.sampling).tokens[0]);
}

// A tokenizer whose every id is one letter (id % 26), so stop strings can be chosen from a
// run's own output; `eod` is its end-of-document id.
class LetterTokenizer : public Tokenizer {
 public:
  LetterTokenizer(int64_t vocab, int64_t eod) : vocab_(vocab), eod_(eod) {}
  std::vector<int64_t> encode(std::string_view text) const override {
    std::vector<int64_t> ids;
    for (char ch : text) ids.push_back(ch - 'a');
    return ids;
  }
  std::string decode(const std::vector<int64_t>& ids) const override {
    std::string s;
    for (auto id : ids)
      if (id != eod_) s += static_cast<char>('a' + id % 26);
    return s;
  }
  int64_t vocab_size() const override { return vocab_; }
  int64_t eod_id() const override { return eod_; }
  std::string name() const override { return "letters"; }

 private:
  int64_t vocab_, eod_;
};

TEST(GenerateBatch, StopsEndOneSequenceWhileOthersContinue) {
  auto model = model_create(shipped_config("oryx-mamba2-tiny"), 5);
  model->eval();
  SamplingOptions greedy;
  greedy.temperature = 0;
  std::vector<GenerateRequest> reqs(3);
  for (size_t i = 0; i < reqs.size(); ++i) {
    reqs[i].prompt = random_ids(3 + 9 * static_cast<int64_t>(i), 512, 70 + i);
    reqs[i].schedule = schedule_parse(i == 1 ? "all-A" : "last:2");
    reqs[i].max_new = 10;
  }
  // The unstopped outputs, with an end-of-document id no run produces.
  LetterTokenizer plain(512, 511);
  std::vector<std::vector<int64_t>> free_run;
  for (auto& r : reqs) free_run.push_back(generate_alone(model, r, greedy, {&plain, {}}).tokens[0]);
  for (const auto& t : free_run) {
    ASSERT_EQ(t.size(), 10u);
    ASSERT_EQ(std::count(t.begin(), t.end(), 511), 0);
  }

  // Prompt 0 stops at the text of its tokens 3..4; prompt 2 at an id only it produces (the
  // tokenizer's end of document); prompt 1 runs its whole budget.
  std::string stop0 = plain.decode({free_run[0][3], free_run[0][4]});
  reqs[0].stop = {stop0, "this never appears"};
  auto produced_by = [&](size_t i, int64_t id) {
    return std::count(free_run[i].begin(), free_run[i].end(), id) > 0;
  };
  int64_t eod = -1;
  for (size_t t = 2; t < free_run[2].size() && eod < 0; ++t)
    if (!produced_by(0, free_run[2][t]) && !produced_by(1, free_run[2][t])) eod = free_run[2][t];
  ASSERT_GE(eod, 0) << "every id of prompt 2's run appears in the others'";
  LetterTokenizer tok(512, eod);
  BatchGenerateOptions opts;
  opts.sampling = greedy;
  opts.tokenizer = &tok;
  auto out = generate_batch(model, reqs, opts);

  for (size_t i = 0; i < reqs.size(); ++i)
    EXPECT_EQ(out[i].tokens, generate_alone(model, reqs[i], greedy, {&tok, reqs[i].stop}).tokens[0]) << i;
  // Prompt 0: the first occurrence of the stop string ends it, and the text stops before it.
  auto full0 = tok.decode(free_run[0]);
  size_t at = full0.find(stop0);
  ASSERT_NE(at, std::string::npos);
  EXPECT_EQ(out[0].stop, StopReason::StopString);
  EXPECT_EQ(out[0].text, full0.substr(0, at));
  EXPECT_LT(out[0].tokens.size(), 10u);
  // Prompt 2: ends at its first end-of-document id, which is kept among the tokens.
  auto eod_at = std::find(free_run[2].begin(), free_run[2].end(), tok.eod_id()) - free_run[2].begin();
  EXPECT_EQ(out[2].stop, StopReason::EndOfDocument);
  EXPECT_EQ(out[2].tokens, std::vector<int64_t>(free_run[2].begin(), free_run[2].begin() + eod_at + 1));
  EXPECT_LT(out[2].tokens.size(), 10u);
  EXPECT_EQ(out[1].stop, StopReason::MaxNew);
  EXPECT_EQ(out[1].tokens, free_run[1]);
}

TEST(GenerateBatch, RejectsRequestsItCannotServe) {
  auto model = model_create(shipped_config("transformer-tiny"), 1);
  BatchGenerateOptions opts;
  EXPECT_THROW(generate_batch(model, {}, opts), Error);
  GenerateRequest empty;
  EXPECT_THROW(generate_batch(model, {empty}, opts), Error);
  GenerateRequest too_long;
  too_long.prompt = std::vector<int64_t>(1000, 1);
  too_long.max_new = 30;
  EXPECT_THROW(generate_batch(model, {too_long}, opts), Error);
  GenerateRequest stop_without_tokenizer;
  stop_without_tokenizer.prompt = {1};
  stop_without_tokenizer.stop = {"x"};
  EXPECT_THROW(generate_batch(model, {stop_without_tokenizer}, opts), Error);
}

}  // namespace
}  // namespace oryx::testing
