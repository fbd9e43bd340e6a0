// The fused decoding step (generate/fused_decode.h) against Model::decode_step, the step path
// it replaces, on the device: both start from one prefilled cache (prompts of different
// lengths, so each sequence has its own position), are fed the same tokens (the fused step's
// greedy picks) for 96 steps whose mode switches every 8 tokens (Oryx models), and are compared
// at every step (logits) and at the end (every cache buffer). Both compute in bf16 with the
// same roundings, so they differ by fp32 summation order and the bf16 roundings it flips. To
// tell that from an error, an fp32 copy of the model (the bf16 weights, its own fp32 prefill)
// is fed the same tokens too: the fused step must be about as close to it as the step path is.
// Also the decode graph's pick kernel (greedy id and finite check) against torch's ops.
#include <array>

#include "gpu_check.h"
#include "oryx/cache/cache.h"
#include "oryx/common/error.h"
#include "oryx/config/model_config.h"
#include "oryx/generate/fused_decode.h"
#include "oryx/kernels/decode_layer_ops.h"
#include "oryx/layer/modes.h"
#include "oryx/model/model.h"
#include "support/tolerance.h"

namespace oryx::testing {
namespace {

// The two bf16 paths differ by up to 2% (max |fused - step| / max |step| over all steps) and
// the step path itself is 1.3-2.8% off the fp32 model: bounds with room for that noise, far
// below what a wrong term gives (order 1).
constexpr double kLogitBound = 3e-2;
constexpr double kCacheBound = 3e-2;
// The fused step's largest error against fp32, over the step path's (0.8-1.4 measured).
constexpr double kFp32Ratio = 2.0;

void run_fused_decode_case(const std::string& kind, const std::string& linear, int64_t head_dim, int64_t B,
                           bool variant, uint64_t seed_value) {
  seed(seed_value);
  nlohmann::json j = {{"name", "fused-decode-test"}, {"kind", kind}, {"vocab_size", 1000}, {"d_model", 256},
                      {"n_layers", 4}, {"n_heads", 256 / head_dim}, {"head_dim_k", head_dim},
                      {"head_dim_v", head_dim}, {"mlp_hidden", 512}, {"conv_kernel", 4}, {"rope", true},
                      {"qk_norm", true}, {"chunk_size", 64}, {"max_seq_len", 1024}};
  if (!linear.empty()) j["linear"] = linear;
  if (variant) {
    j["share_q"] = true;
    j["separate_out_norm"] = true;
    j["conv_kernel"] = 3;
  }
  auto cfg = config_from_json(j, "gpu test");
  auto model = model_create(cfg, seed_value);
  model->to(torch::kCUDA, torch::kBFloat16);
  torch::NoGradGuard no_grad;
  auto model32 = model_create(cfg, seed_value);
  model32->to(torch::kCUDA, torch::kFloat32);
  auto p16 = model->parameters(), p32 = model32->parameters();
  for (size_t i = 0; i < p16.size(); ++i) p32[i].copy_(p16[i]);
  const int64_t capacity = 400, steps = 96;
  ModelCache fused_cache(cfg, B, capacity, torch::kCUDA, torch::kBFloat16);
  ModelCache step_cache(cfg, B, capacity, torch::kCUDA, torch::kBFloat16);
  ModelCache cache32(cfg, B, capacity, torch::kCUDA, torch::kFloat32);
  const std::vector<int64_t> lengths{77, 130, 5, 64, 1, 200};
  for (int64_t b = 0; b < B; ++b) {
    auto prompt = torch::randint(0, cfg.vocab_size, {1, lengths[static_cast<size_t>(b)]}, torch::kLong).to(torch::kCUDA);
    torch::Tensor mask;
    if (kind == "oryx") mask = torch::rand({prompt.size(1)}) < 0.5;
    for (auto [m, cache] : std::vector<std::pair<OryxModel, ModelCache*>>{
             {model, &fused_cache}, {model, &step_cache}, {model32, &cache32}}) {
      auto row = cache->row(b);
      m->forward(prompt, mask, &row);
      cache->store_row(b, row);
    }
  }
  auto same_start = [](torch::Tensor& dst, const torch::Tensor& src) {
    if (dst.defined()) dst.copy_(src);
  };
  for (int64_t i = 0; i < cfg.n_layers; ++i) {
    auto &f = fused_cache.layer(i), &s = step_cache.layer(i);
    for (auto [d, src] : std::vector<std::pair<torch::Tensor*, torch::Tensor*>>{
             {&s.k, &f.k}, {&s.v, &f.v}, {&s.state, &f.state}, {&s.conv_k, &f.conv_k}, {&s.conv_v, &f.conv_v},
             {&s.conv_q, &f.conv_q}})
      same_start(*d, *src);
  }
  auto why = FusedDecode::unsupported(*model, fused_cache);
  ORYX_CHECK(why.empty(), "the fused step does not serve this case: ", why);
  FusedDecode fused(*model);

  auto tokens = torch::randint(0, cfg.vocab_size, {B, 1}, torch::kLong).to(torch::kCUDA);
  double logit_err = 0, fused_vs_fp32 = 0, step_vs_fp32 = 0;
  int64_t equal = 0, total = 0;
  for (int64_t s = 0; s < steps; ++s) {
    const bool mode_a = kind == "transformer" || (kind == "oryx" && (s / 8) % 2 == 0);
    auto modes = TokenModes::from_mask(torch::full({B, 1}, mode_a, torch::kBool), B, torch::kCUDA);
    auto want = model->decode_step(tokens, modes, step_cache);
    auto got = fused.step(tokens, mode_a, fused_cache);
    auto want32 = model32->decode_step(tokens, modes, cache32);
    for (auto* cache : {&step_cache, &fused_cache, &cache32}) cache->advance(1);
    logit_err = std::max(logit_err, max_rel_error(got, want));
    fused_vs_fp32 = std::max(fused_vs_fp32, max_rel_error(got, want32));
    step_vs_fp32 = std::max(step_vs_fp32, max_rel_error(want, want32));
    auto pick = got.argmax(-1);
    equal += (pick == want.argmax(-1)).sum().item<int64_t>();
    total += B;
    tokens = pick.view({B, 1});
  }
  std::vector<Check> checks{{"logits", logit_err, 0, kLogitBound}};
  for (int64_t i = 0; i < cfg.n_layers; ++i) {
    auto &f = fused_cache.layer(i), &s = step_cache.layer(i);
    for (auto [name, a, b] : std::vector<std::tuple<const char*, torch::Tensor, torch::Tensor>>{
             {"k", f.k, s.k}, {"v", f.v, s.v}, {"state", f.state, s.state}, {"conv_k", f.conv_k, s.conv_k},
             {"conv_v", f.conv_v, s.conv_v}, {"conv_q", f.conv_q, s.conv_q}}) {
      if (!a.defined()) continue;
      auto c = check(name, a.to(torch::kFloat32), b.to(torch::kFloat32), kCacheBound);
      if (i + 1 == cfg.n_layers || c.max_rel > c.bound) checks.push_back(c);
    }
  }
  checks.push_back({"fp32 err over step's", fused_vs_fp32 / step_vs_fp32, 0, kFp32Ratio});
  char id[160];
  std::snprintf(id, sizeof id, "fused decode %s %s K%lld B%lld%s (%lld/%lld picks equal; vs fp32 %.1e, step %.1e)",
                kind.c_str(), linear.c_str(), (long long)head_dim, (long long)B, variant ? " shared-q" : "",
                (long long)equal, (long long)total, fused_vs_fp32, step_vs_fp32);
  report(id, checks);
}

// The decode graph's pick kernel against torch: argmax below the limit (ties: the first), and
// each row's count of non-finite logits (rows holding some are compared on the count only:
// their pick is discarded by the caller).
void run_decode_pick_case(int64_t B, int64_t V, int64_t limit, uint64_t seed_value) {
  seed(seed_value);
  auto logits = torch::randn({B, V}, torch::TensorOptions().device(torch::kCUDA));
  logits.index_put_({0, std::min<int64_t>(V, limit) - 1}, 100.f);  // a tie with the next line's
  logits.index_put_({0, 0}, 100.f);
  if (B > 2) {
    logits.index_put_({1, V / 2}, INFINITY);
    logits.index_put_({2, V - 1}, NAN);
  }
  auto out = torch::empty({2 * B}, logits.options().dtype(torch::kLong));
  kernels_decode_pick(logits, limit, out);
  auto want_ids = logits.narrow(1, 0, std::min(V, limit)).argmax(-1);
  auto want_bad = torch::isfinite(logits).logical_not().sum(-1);
  auto finite_rows = want_bad == 0;
  bool ok = torch::equal(out.narrow(0, B, B), want_bad) &&
            torch::equal(out.narrow(0, 0, B).masked_select(finite_rows), want_ids.masked_select(finite_rows)) &&
            out[0].item<int64_t>() == 0;
  if (!ok) ++g_failures;
  std::printf("decode_pick B%lld V%lld limit %lld  %s\n", (long long)B, (long long)V, (long long)limit,
              ok ? "ok" : "FAIL");
}

}  // namespace

void run_decode_cases(uint64_t& s) {
  for (auto [B, V, limit] : std::vector<std::array<int64_t, 3>>{{1, 32000, 32000}, {5, 1000, 997}, {64, 32000, 31999},
                                                               {3, 7, 7}, {2, 1025, 1}})
    guarded("decode_pick", [&] { run_decode_pick_case(B, V, limit, ++s); });
  for (auto [kind, linear] : std::vector<std::pair<std::string, std::string>>{
           {"oryx", "gdn"}, {"oryx", "mamba2"}, {"transformer", ""}, {"linear", "gdn"}, {"linear", "mamba2"}})
    for (int64_t K : {128, 64})
      for (int64_t B : {1, 3, 6})  // 6: cuBLAS's products, not the matrix-vector kernels
        guarded("fused decode", [&] { run_fused_decode_case(kind, linear, K, B, false, ++s); });
  for (auto linear : {"gdn", "mamba2"})
    guarded("fused decode", [&] { run_fused_decode_case("oryx", linear, 128, 3, true, ++s); });
}

}  // namespace oryx::testing
