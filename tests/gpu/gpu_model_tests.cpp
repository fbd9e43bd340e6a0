// The model-level cases of oryx_gpu_tests: chunk-sparse attention over per-sequence runs
// (mixers/attention/runs.cpp) and greedy decoding through the CUDA decode graphs
// (generate/decode_graph.h), each against its reference on the device.
#include <cstdlib>

#include "gpu_check.h"
#include "oryx/config/model_config.h"
#include "oryx/generate/generate.h"
#include "oryx/kernels/decode_attention_ops.h"
#include "oryx/layer/attention_runs.h"
#include "oryx/layer/ops.h"
#include "oryx/mixers/attention/attention.h"
#include "oryx/model/model.h"
#include "oryx/schedule/schedule.h"
#include "support/inputs.h"
#include "support/tolerance.h"

namespace oryx::testing {
namespace {

// Chunk-sparse attention over per-sequence runs of mode-A tokens: the varlen flash path
// (bf16) against the entry-by-entry form in fp32 on the same bf16-rounded inputs; each
// sequence is in mode A in random chunks of `chunk` tokens with probability 0.4 (sequence 0
// all A, the last all L; chunks of 300 leave gaps wider than the merge gap, so entries share
// keys), output and the gradients of <o, Wo>.
void run_attention_runs_case(int64_t B, int64_t T, int64_t H, int64_t K, int64_t chunk, uint64_t seed_value) {
  seed(seed_value);
  auto mask = torch::zeros({B, T}, torch::kBool);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t c = 0; c * chunk < T; ++c)
      if (b == 0 || (b + 1 < B && torch::rand({1}).item<double>() < 0.4))
        mask[b].narrow(0, c * chunk, std::min(chunk, T - c * chunk)).fill_(true);
  auto runs = AttentionRuns::from_mask(mask, torch::kCUDA, /*allow_dense=*/false);
  auto cuda = torch::TensorOptions().device(torch::kCUDA);
  int64_t Nq = runs.q_rows.size(0);
  auto q = torch::randn({Nq, H, K}, cuda).to(torch::kBFloat16), k = torch::randn({B * T, H, K}, cuda).to(torch::kBFloat16);
  auto v = torch::randn({B * T, H, K}, cuda).to(torch::kBFloat16);
  auto wo = torch::randn({Nq, H, K}, cuda);
  double scale = 1.0 / std::sqrt(static_cast<double>(K));
  auto leaf = [](const torch::Tensor& t, torch::ScalarType dt) { return t.to(dt).clone().requires_grad_(true); };
  auto qk = leaf(q, torch::kBFloat16), kk = leaf(k, torch::kBFloat16), vk = leaf(v, torch::kBFloat16);
  auto ok = attention_runs(qk, kk, vk, runs, scale);
  (ok.to(torch::kFloat32) * wo).sum().backward();
  auto qr = leaf(q, torch::kFloat32), kr = leaf(k, torch::kFloat32), vr = leaf(v, torch::kFloat32);
  auto orf = attention_runs_reference(qr, kr, vr, runs, scale);
  (orf * wo).sum().backward();
  char id[96];
  std::snprintf(id, sizeof id, "attention_runs B%lld T%lld H%lld K%lld chunk%lld (%zu entries)", (long long)B,
                (long long)T, (long long)H, (long long)K, (long long)chunk, runs.entries.size());
  report(id, {check("o", ok, orf, kBoundForward), check("dq", qk.grad(), qr.grad(), kBoundGrad),
              check("dk", kk.grad(), kr.grad(), kBoundGrad), check("dv", vk.grad(), vr.grad(), kBoundGrad)},
         max_rel_error(orf.detach().to(torch::kBFloat16), orf.detach()));
}

// Greedy generation through the CUDA decode graphs against the eager step path (the same
// kernels launched op by op, cuda_graphs = false), and in fp32 against the reference path
// (ORYX_FORCE_REFERENCE=1): the same tokens, for every schedule kind the model can run.
// In bf16 the graphs of the step path (fused_decode = false) must give the eager tokens; the
// fused step's graphs (generate/fused_decode.h: bf16 only) compute the same values to fp32
// summation order, so a near-tie may pick differently and the rest of that sequence differs:
// their agreement is reported here, and gpu_decode_tests.cpp bounds their logits.
// A 4-layer model with the 350m configs' head shapes (bf16 runs the fused kernels).
void run_generate_graph_case(const std::string& kind, const std::string& linear, torch::ScalarType dt,
                             uint64_t seed_value) {
  seed(seed_value);
  nlohmann::json j = {{"name", "graph-test"}, {"kind", kind},    {"vocab_size", 1000}, {"d_model", 256},
                      {"n_layers", 4},         {"n_heads", 2},    {"head_dim_k", 128},  {"head_dim_v", 128},
                      {"mlp_hidden", 512},     {"conv_kernel", 4}, {"rope", true},      {"qk_norm", true},
                      {"chunk_size", 64},      {"max_seq_len", 1024}};
  if (!linear.empty()) j["linear"] = linear;
  auto cfg = config_from_json(j, "gpu test");
  auto model = model_create(cfg, seed_value);
  model->to(torch::kCUDA, dt);
  std::vector<std::string> schedules = kind == "transformer" ? std::vector<std::string>{"all-A"}
                                       : kind == "linear"    ? std::vector<std::string>{"all-L"}
                                       : std::vector<std::string>{"all-A", "all-L", "last:16,gen=L", "every:3:8",
                                                                  "first:40,gen=A"};
  auto prompts = torch::randint(0, cfg.vocab_size, {3, 77}, torch::kLong);
  for (const auto& spec : schedules) {
    GenerateOptions g;
    g.max_new = 256;
    g.sampling.temperature = 0;  // greedy: the decode graphs serve greedy decoding only
    std::string path;
    auto run = [&](bool graphs, bool fused, bool reference) {
      g.cuda_graphs = graphs;
      g.fused_decode = fused;
      if (reference) setenv("ORYX_FORCE_REFERENCE", "1", 1);
      auto r = generate(model, prompts, schedule_parse(spec), g);
      if (reference) unsetenv("ORYX_FORCE_REFERENCE");
      if (graphs && fused) path = r.decode_path;
      return r.tokens;
    };
    auto graphs = run(true, true, false);
    auto eager = run(false, false, false);
    int64_t same = 0, total = 0;
    for (size_t b = 0; b < graphs.size(); ++b)
      for (size_t i = 0; i < graphs[b].size(); ++i, ++total) same += graphs[b][i] == eager[b][i];
    bool ok;
    std::string extra;
    if (dt == torch::kFloat32) {
      auto reference = run(false, false, true);
      ok = graphs == eager && graphs == reference;
      extra = graphs == reference ? ", = reference" : ", differs from the reference";
    } else {
      auto step_graphs = run(true, false, false);
      ok = step_graphs == eager;
      extra = step_graphs == eager ? "; step-path graphs = eager" : "; step-path graphs differ from eager";
    }
    if (!ok) ++g_failures;
    std::printf("generate graphs %-11s %-6s %-4s %-16s %lld/%lld tokens equal%s [%s]  %s\n", kind.c_str(),
                linear.c_str(), dt == torch::kFloat32 ? "fp32" : "bf16", spec.c_str(), (long long)same,
                (long long)total, extra.c_str(), path.c_str(), ok ? "ok" : "FAIL");
  }
}

// Flash-decoding (attention_step on bf16 caches) against attention_step's reference in fp32
// on the same bf16 values: lengths around the 256-key chunks, per-sequence key counts, and a
// cache view whose sequences are farther apart than their keys (a narrowed capacity).
void run_decode_attention_case(int64_t B, int64_t L, int64_t H, int64_t D, bool per_sequence, uint64_t seed_value) {
  seed(seed_value);
  auto cuda = torch::TensorOptions().device(torch::kCUDA);
  auto q = torch::randn({B, H, D}, cuda).to(torch::kBFloat16);
  auto k = torch::randn({B, L + 5, H, D}, cuda).to(torch::kBFloat16).narrow(1, 0, L);
  auto v = torch::randn({B, L + 5, H, D}, cuda).to(torch::kBFloat16).narrow(1, 0, L);
  torch::Tensor counts;
  if (per_sequence) counts = torch::randint(1, L + 1, {B}, cuda.dtype(torch::kLong)).index_fill_(0, torch::zeros({1}, cuda.dtype(torch::kLong)), L);
  double scale = 1.0 / std::sqrt(static_cast<double>(D));
  auto got = attention_step(q, k, v, scale, counts);
  auto f32 = [](const torch::Tensor& t) { return t.to(torch::kFloat32); };
  auto want = attention_step(f32(q), f32(k), f32(v), scale, counts);
  // The fused decoding step's form: the GatedRMSNorm in the combine kernel.
  auto gate = torch::randn({B, H, D}, cuda).to(torch::kBFloat16);
  auto gain = torch::rand({D}, cuda) + 0.5;
  auto got_gated = kernels_decode_attention(q, k, v, scale, counts, gate, gain, 1e-6);
  auto want_gated = gated_rms_norm_reference(want.to(torch::kBFloat16).to(torch::kFloat32), f32(gate), gain, 1e-6);
  char id[96];
  std::snprintf(id, sizeof id, "decode_attention B%lld L%lld H%lld D%lld%s", (long long)B, (long long)L, (long long)H,
                (long long)D, per_sequence ? " per-seq" : "");
  report(id, {check("o", got, want, kBoundForward), check("gated", got_gated, want_gated, kBoundForward)},
         max_rel_error(want.to(torch::kBFloat16), want));
}

}  // namespace

void run_model_cases(uint64_t& s) {
  for (int64_t D : {64, 128})
    for (auto [B, L, H] : std::vector<std::array<int64_t, 3>>{{1, 1, 1}, {3, 255, 2}, {2, 256, 7}, {2, 257, 3}, {5, 3000, 7}})
      for (bool per_sequence : {false, true})
        guarded("decode_attention", [&] { run_decode_attention_case(B, L, H, D, per_sequence, ++s); });
  for (auto [B, T, H, K, chunk] : std::vector<std::array<int64_t, 5>>{
           {3, 37, 2, 64, 5}, {4, 300, 3, 128, 64}, {8, 2048, 7, 128, 64}, {2, 129, 1, 64, 1}, {4, 1500, 2, 64, 300}})
    guarded("attention_runs", [&] { run_attention_runs_case(B, T, H, K, chunk, ++s); });
  for (auto dt : {torch::kBFloat16, torch::kFloat32})
    for (auto [kind, linear] : std::vector<std::pair<std::string, std::string>>{
             {"oryx", "gdn"}, {"oryx", "mamba2"}, {"transformer", ""}, {"linear", "gdn"}})
      guarded("generate graphs", [&] { run_generate_graph_case(kind, linear, dt, ++s); });
}

}  // namespace oryx::testing
