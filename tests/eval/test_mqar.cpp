// MQAR: examples are fixed by their seed and index, answers sit exactly at the query keys,
// values never appear in the query region, and evaluation states its attention fraction.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "oryx/common/error.h"
#include "oryx/eval/loss.h"
#include "oryx/eval/mqar.h"
#include "support/models.h"

namespace oryx::testing {
namespace {

MqarOptions small_task() {
  MqarOptions o;
  o.vocab = 64;
  o.seq_len = 40;
  o.pairs = 6;
  o.seed = 7;
  return o;
}

TEST(EvalMqar, DeterministicUnderSeed) {
  const MqarOptions o = small_task();
  const auto a = mqar_example(o, 3), b = mqar_example(o, 3);
  EXPECT_EQ(a.inputs, b.inputs);
  EXPECT_EQ(a.targets, b.targets);
  EXPECT_NE(mqar_example(o, 4).inputs, a.inputs);
  MqarOptions other = o;
  other.seed = 8;
  EXPECT_NE(mqar_example(other, 3).inputs, a.inputs);
  // Example i does not depend on the batch it is drawn in.
  const Batch batch = mqar_batch(o, 4, 1);
  ASSERT_EQ(batch.inputs.size(0), 4);
  ASSERT_EQ(batch.inputs.size(1), 40);
  EXPECT_TRUE(torch::equal(batch.inputs[2], torch::tensor(a.inputs, torch::kLong)));
  EXPECT_TRUE(torch::equal(batch.targets[2], torch::tensor(a.targets, torch::kLong)));
}

TEST(EvalMqar, AnswersAtQueryKeysAndNoLeakage) {
  for (bool noise : {true, false}) {
    MqarOptions o = small_task();
    o.noise_filler = noise;
    const int64_t N = o.pairs, T = o.seq_len, K = (o.vocab - 1) / 2;
    for (int64_t i = 0; i < 50; ++i) {
      const auto ex = mqar_example(o, i);
      ASSERT_EQ(static_cast<int64_t>(ex.inputs.size()), T);
      std::map<int64_t, int64_t> value_of;
      std::set<int64_t> values;
      for (int64_t p = 0; p < N; ++p) {
        const int64_t k = ex.inputs[2 * p], v = ex.inputs[2 * p + 1];
        EXPECT_TRUE(k >= 1 && k < 1 + K) << "key " << k;
        EXPECT_TRUE(v >= 1 + K && v < o.vocab) << "value " << v;
        EXPECT_TRUE(value_of.emplace(k, v).second) << "keys are distinct";
        EXPECT_TRUE(values.insert(v).second) << "values are distinct";
        EXPECT_EQ(ex.targets[2 * p], kIgnoreIndex);
        EXPECT_EQ(ex.targets[2 * p + 1], kIgnoreIndex);
      }
      std::set<int64_t> asked;
      for (int64_t t = 2 * N; t < T; ++t) {
        const int64_t id = ex.inputs[t];
        EXPECT_EQ(values.count(id), 0u) << "a value leaked into the query region at " << t;
        if (ex.targets[t] != kIgnoreIndex) {
          EXPECT_EQ((t - 2 * N) % 2, 0) << "queries sit on even slots";
          ASSERT_EQ(value_of.count(id), 1u) << "a target sits at a non-key at " << t;
          EXPECT_EQ(ex.targets[t], value_of[id]);
          asked.insert(id);
        } else {
          EXPECT_EQ(value_of.count(id), 0u) << "filler repeats a key at " << t;
          if (!noise) {
            EXPECT_EQ(id, 0);
          }
        }
      }
      EXPECT_EQ(static_cast<int64_t>(asked.size()), N) << "every key is asked once";
    }
  }
}

TEST(EvalMqar, QueriesFavourEarlySlots) {
  MqarOptions o = small_task();
  o.seq_len = 200;
  o.pairs = 4;
  const int64_t slots = (o.seq_len - 2 * o.pairs) / 2;
  int64_t early = 0, all = 0;
  for (int64_t i = 0; i < 200; ++i) {
    const auto ex = mqar_example(o, i);
    for (int64_t t = 2 * o.pairs; t < o.seq_len; ++t) {
      if (ex.targets[t] == kIgnoreIndex) continue;
      early += (t - 2 * o.pairs) / 2 < slots / 4;
      ++all;
    }
  }
  EXPECT_GT(static_cast<double>(early) / all, 0.4) << "p(s) ~ (s+1)^(a-1) puts most queries early";
}

TEST(EvalMqar, ImpossibleOptionsAreNamed) {
  MqarOptions o = small_task();
  o.pairs = 11;  // 4 * 11 > 40
  EXPECT_THROW(
      {
        try {
          mqar_check(o);
        } catch (const Error& e) {
          EXPECT_NE(std::string(e.what()).find("seq_len"), std::string::npos) << e.what();
          throw;
        }
      },
      Error);
  o = small_task();
  o.pairs = 32;
  o.seq_len = 128;  // 64 ids hold at most 31 keys
  EXPECT_THROW(mqar_check(o), Error);
}

TEST(EvalMqar, EvalRowsStateScheduleAndAttentionFraction) {
  auto model = model_create(shipped_config("oryx-gdn-tiny"), 1);
  MqarEvalOptions o;
  o.task = small_task();
  o.task.seq_len = 32;
  o.pairs = {2, 4};
  o.examples = 6;
  o.score.batch = 4;
  const auto rows = mqar_eval(model, o, schedule_parse("last:8"));
  ASSERT_EQ(rows.size(), 2u);
  for (const auto& r : rows) {
    EXPECT_EQ(r.schedule, "last:8");
    EXPECT_DOUBLE_EQ(r.attention_fraction(), 8.0 / 32.0);
    EXPECT_EQ(r.queries, r.pairs * 6);
    EXPECT_GE(r.accuracy, 0.0);
    EXPECT_LE(r.accuracy, 1.0);
    const auto j = r.to_json();
    EXPECT_EQ(j["schedule"], "last:8");
    EXPECT_DOUBLE_EQ(j["attention_fraction"].get<double>(), 0.25);
  }
  EXPECT_EQ(rows[1].pairs, 4);
}

// A@queries feeds exactly the query keys in mode A, so each example scores as it would under
// a mask schedule of its own that marks those positions.
TEST(EvalMqar, AttendQueriesEqualsAPerExampleMask) {
  auto model = model_create(shipped_config("oryx-gdn-tiny"), 1);
  MqarEvalOptions o;
  o.task = small_task();
  o.task.seq_len = 32;
  o.pairs = {3};
  o.examples = 5;
  const auto rows = mqar_eval_attend_queries(model, o);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].schedule, kMqarAttendQueries);
  EXPECT_EQ(rows[0].fed_a, 3 * 5);
  EXPECT_DOUBLE_EQ(rows[0].attention_fraction(), 3.0 / 32.0);
  int64_t correct = 0;
  for (int64_t i = 0; i < o.examples; ++i) {
    MqarOptions task = o.task;
    task.pairs = 3;
    const auto ex = mqar_example(task, i);
    std::string mask = "mask:";
    for (int64_t t : ex.targets) mask += t == kIgnoreIndex ? 'L' : 'A';
    ScoreOptions so;
    so.vocab_limit = o.task.vocab;  // as mqar_eval scores
    const auto s = score_sequences(model, {{ex.inputs, ex.targets, 32}}, schedule_parse(mask), so);
    correct += s[0].correct;
  }
  EXPECT_DOUBLE_EQ(rows[0].accuracy, static_cast<double>(correct) / 15.0);
  // A single-mode model cannot place attention.
  auto linear = model_create(shipped_config("gdn-tiny"), 1);
  EXPECT_THROW(mqar_eval_attend_queries(linear, o), Error);
}

}  // namespace
}  // namespace oryx::testing
