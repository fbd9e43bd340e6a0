// Mode schedules: the inference kinds and their generation policies, parsing errors, and the
// seeded training sampler's distribution and chunk structure.
#include <gtest/gtest.h>

#include "oryx/common/error.h"
#include "oryx/schedule/schedule.h"
#include "oryx/schedule/train_sampler.h"

namespace oryx::testing {
namespace {

std::string letters(const torch::Tensor& m) {
  std::string s;
  for (int64_t i = 0; i < m.size(0); ++i) s += m[i].item<bool>() ? 'A' : 'L';
  return s;
}

TEST(Schedule, InferenceKinds) {
  EXPECT_EQ(letters(schedule_parse("all-A").prompt_modes(4)), "AAAA");
  EXPECT_EQ(letters(schedule_parse("all-L").prompt_modes(4)), "LLLL");
  EXPECT_EQ(letters(schedule_parse("every:3:2").prompt_modes(14)), "LLLLAALLLLAALL");
  EXPECT_EQ(letters(schedule_parse("every:1:5").prompt_modes(3)), "AAA");
  EXPECT_EQ(letters(schedule_parse("first:3").prompt_modes(6)), "AAALLL");
  EXPECT_EQ(letters(schedule_parse("last:2").prompt_modes(6)), "LLLLAA");
  EXPECT_EQ(letters(schedule_parse("last:9").prompt_modes(3)), "AAA");
  EXPECT_EQ(letters(schedule_parse("mask:ALLA").prompt_modes(4)), "ALLA");
  EXPECT_NEAR(attention_fraction(schedule_parse("every:4:8").prompt_modes(64)), 0.25, 1e-12);
}

TEST(Schedule, GenerationPolicies) {
  auto every = schedule_parse("every:2:2");  // chunks LL AA LL AA ...
  EXPECT_FALSE(every.generated_mode(4, 4));
  EXPECT_TRUE(every.generated_mode(6, 4));
  EXPECT_TRUE(schedule_parse("last:2").generated_mode(10, 6));
  EXPECT_FALSE(schedule_parse("last:2,gen=L").generated_mode(10, 6));
  EXPECT_FALSE(schedule_parse("first:3").generated_mode(10, 6));
  EXPECT_TRUE(schedule_parse("first:30").generated_mode(10, 6));
  EXPECT_TRUE(schedule_parse("mask:LLA").generated_mode(3, 3));   // repeats the last prompt mode
  EXPECT_FALSE(schedule_parse("mask:AAL").generated_mode(3, 3));
  EXPECT_TRUE(schedule_parse("all-L,gen=A").generated_mode(3, 3));
  EXPECT_FALSE(schedule_parse("first:2,gen=last").generated_mode(5, 3));
}

TEST(Schedule, DescribeRoundTrips) {
  for (const char* s : {"all-A", "all-L", "every:4:64", "first:10", "last:3,gen=L", "mask:ALA"}) {
    auto a = schedule_parse(s);
    auto b = schedule_parse(a.describe());
    EXPECT_EQ(a.describe(), b.describe()) << s;
    EXPECT_EQ(letters(a.prompt_modes(3)), letters(b.prompt_modes(3))) << s;
  }
}

TEST(Schedule, BadSpecsAreRejected) {
  for (const char* s : {"", "all", "every", "every:0", "every:x:4", "first:-1", "last:2:3", "mask:ABC",
                        "mask:", "all-A,gen=Q", "mask-file:/no/such/file"})
    EXPECT_THROW(schedule_parse(s), Error) << s;
  EXPECT_THROW(schedule_parse("mask:AL").prompt_modes(3), Error);
}

TEST(TrainSampler, SeededAndResumable) {
  TrainModeSampler a({}, 42), b({}, 42), c({}, 43);
  auto x = a.sample(8, 300);
  EXPECT_TRUE(torch::equal(x, b.sample(8, 300)));
  EXPECT_FALSE(torch::equal(x, c.sample(8, 300)));
  auto saved = a.state();
  auto next = a.sample(4, 100);
  TrainModeSampler d({}, 7);
  d.restore(saved);
  EXPECT_TRUE(torch::equal(next, d.sample(4, 100)));
  EXPECT_THROW(d.restore("garbage"), Error);
}

TEST(TrainSampler, FollowsChunksAndMixture) {
  TrainScheduleOptions opts;
  opts.chunk = 16;
  TrainModeSampler s(opts, 1);
  const int64_t B = 20000, T = 16 * 10 + 5;  // 11 chunks, the last one short
  auto m = s.sample(B, T);
  int64_t all_a = 0, all_l = 0;
  double mixed_fraction = 0;
  int64_t mixed = 0;
  for (int64_t b = 0; b < B; ++b) {
    auto row = m[b];
    // Modes are constant inside each chunk (checked on the first rows; the rest feed the
    // statistics).
    for (int64_t c = 0; b < 200 && c * 16 < T; ++c) {
      auto chunk = row.narrow(0, c * 16, std::min<int64_t>(16, T - c * 16));
      EXPECT_TRUE(chunk.all().item<bool>() || !chunk.any().item<bool>());
    }
    auto chunk_modes = row.index({torch::indexing::Slice(0, T, 16)});
    int64_t n_a = chunk_modes.sum().item<int64_t>();
    if (n_a == 11) ++all_a;
    else if (n_a == 0) ++all_l;
    else {
      ++mixed;
      mixed_fraction += n_a / 11.0;
    }
  }
  // P(all-A) = 1/4 + 1/2 * P(round(11 r) = 11) = 1/4 + 1/2 * 1/22; likewise all-L.
  double expect_edge = (0.25 + 0.5 / 22) * B;
  EXPECT_NEAR(all_a, expect_edge, 4 * std::sqrt(expect_edge));
  EXPECT_NEAR(all_l, expect_edge, 4 * std::sqrt(expect_edge));
  // r ~ U(0,1) is symmetric, so the mean A fraction of mixed sequences is 1/2; its standard
  // error here is about 0.26 / sqrt(9000) = 0.0027.
  EXPECT_NEAR(mixed_fraction / mixed, 0.5, 0.011);
}

TEST(TrainSampler, RejectsBadOptions) {
  TrainScheduleOptions o;
  o.p_all_a = 0.8;
  o.p_all_l = 0.5;
  EXPECT_THROW(TrainModeSampler(o, 1), Error);
  o = {};
  o.chunk = 0;
  EXPECT_THROW(TrainModeSampler(o, 1), Error);
}

}  // namespace
}  // namespace oryx::testing
