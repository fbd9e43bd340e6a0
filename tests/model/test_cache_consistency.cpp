// Contract 2 (shared cache consistency): for every schedule kind, prefill of a prompt and then
// decoding token by token gives the logits of one parallel forward over the whole sequence,
// for the tiny Oryx models (both variants) and the single-mixer baselines. fp64, so the
// bound is rounding-level; the prefill also runs in two pieces (chunked form continuing
// from a cache).
#include <gtest/gtest.h>

#include "oryx/model/model.h"
#include "oryx/schedule/schedule.h"
#include "support/models.h"
#include "support/tolerance.h"

namespace oryx::testing {
namespace {

struct CacheCase {
  std::string config;
  std::string schedule;
};
// How gtest and ctest show a case (instead of its bytes).
void PrintTo(const CacheCase& c, std::ostream* os) { *os << c.config << " " << c.schedule; }

// Modes of the whole sequence: the prompt's from the schedule, generated positions from its
// generation policy (what generate() feeds).
torch::Tensor sequence_modes(const Schedule& s, int64_t P, int64_t T) {
  auto m = torch::empty({T}, torch::kBool);
  auto prompt = s.prompt_modes(P);
  for (int64_t t = 0; t < T; ++t) m[t] = t < P ? prompt[t].item<bool>() : s.generated_mode(t, P);
  return m;
}

class CacheConsistency : public ::testing::TestWithParam<CacheCase> {};

TEST_P(CacheConsistency, PrefillThenDecodeEqualsParallelForward) {
  const auto& p = GetParam();
  auto cfg = shipped_config(p.config);
  auto model = model_create(cfg, 3);
  auto dev = test_device();
  model->to(dev, torch::kFloat64);
  model->eval();
  torch::NoGradGuard no_grad;
  const int64_t B = 2, P = 37, T = 53;  // prompt spans several chunks (16) with a remainder
  seed(5);
  auto tokens = torch::randint(0, cfg.vocab_size, {B, T}, torch::kLong).to(dev);
  auto sched = schedule_parse(p.schedule);
  auto modes = sequence_modes(sched, P, T).to(dev);
  auto full = model->forward(tokens, modes);

  for (int64_t split : {P, int64_t{20}}) {  // one prefill, or two prefill pieces
    ModelCache cache(cfg, B, T, dev, torch::kFloat64);
    std::vector<torch::Tensor> parts;
    parts.push_back(model->forward(tokens.narrow(1, 0, split), modes.narrow(0, 0, split), &cache));
    if (split < P)
      parts.push_back(model->forward(tokens.narrow(1, split, P - split), modes.narrow(0, split, P - split), &cache));
    for (int64_t t = P; t < T; ++t)
      parts.push_back(model->forward(tokens.narrow(1, t, 1), modes.narrow(0, t, 1), &cache));
    auto stepped = torch::cat(parts, 1);
    EXPECT_EQ(cache.length(), T);
    EXPECT_LE(max_rel_error(stepped, full), 1e-9) << p.config << " " << p.schedule << " split " << split;
  }
}

std::vector<CacheCase> cache_cases() {
  std::vector<CacheCase> cases;
  std::string mask = "mask:";  // one letter per prompt token (P = 37), irregular
  for (int i = 0; i < 37; ++i) mask += (i * 7 + 3) % 5 < 2 ? 'A' : 'L';
  for (const char* cfg : {"oryx-gdn-tiny", "oryx-mamba2-tiny"})
    for (const std::string& s : {std::string("all-A"), std::string("all-L"), std::string("every:2:16"),
                                 std::string("every:3:5"), std::string("first:20"), std::string("last:9"),
                                 std::string("last:9,gen=L"), std::string("first:20,gen=last"), mask})
      cases.push_back({cfg, s});
  cases.push_back({"transformer-tiny", "all-A"});
  cases.push_back({"gdn-tiny", "all-L"});
  cases.push_back({"mamba2-tiny", "all-L"});
  return cases;
}

std::string cache_case_name(const ::testing::TestParamInfo<CacheCase>& info) {
  std::string s = info.param.config + "_" + info.param.schedule;
  for (auto& ch : s)
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  return s.substr(0, 60) + "_" + std::to_string(info.index);
}

INSTANTIATE_TEST_SUITE_P(Contract2, CacheConsistency, ::testing::ValuesIn(cache_cases()),
                         cache_case_name);

// The naive (per-token reference) forms through the whole model equal the chunked ones.
TEST(ModelForms, NaiveEqualsChunked) {
  for (const char* name : {"oryx-gdn-tiny", "oryx-mamba2-tiny"}) {
    auto cfg = shipped_config(name);
    auto model = model_create(cfg, 4);
    model->to(test_device(), torch::kFloat64);
    torch::NoGradGuard no_grad;
    seed(6);
    auto tokens = torch::randint(0, cfg.vocab_size, {2, 41}, torch::kLong).to(test_device());
    auto modes = (torch::rand({2, 41}) < 0.5).to(test_device());
    auto a = model->forward(tokens, modes, nullptr, MixerForm::Auto);
    auto b = model->forward(tokens, modes, nullptr, MixerForm::Naive);
    EXPECT_LE(max_rel_error(a, b), 1e-10) << name;
  }
}

}  // namespace
}  // namespace oryx::testing
