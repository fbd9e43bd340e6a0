#include "oryx/generate/generate.h"

#include <chrono>
#include <optional>

#include "oryx/common/error.h"
#include "oryx/generate/decode_graph.h"
#include "oryx/mixers/attention/attention.h"
#include "oryx/mixers/dispatch.h"

namespace oryx {

namespace {

double ms_since(std::chrono::steady_clock::time_point t0, const torch::Device& dev) {
  if (dev.is_cuda()) torch::cuda::synchronize();
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

GenerateResult generate(OryxModel& model, const torch::Tensor& prompts, const Schedule& schedule,
                        const GenerateOptions& opts) {
  sampling_check(opts.sampling);
  ORYX_CHECK(prompts.dim() == 2 && prompts.size(1) >= 1, "generate: prompts must be [B,P] with P >= 1");
  ORYX_CHECK(opts.max_new >= 0, "generate: --max-new must be >= 0");
  ORYX_CHECK(opts.vocab_limit >= 0, "generate: vocab_limit must be >= 0");
  const auto& c = model->config();
  int64_t B = prompts.size(0), P = prompts.size(1);
  int64_t capacity = P + std::max<int64_t>(opts.max_new - 1, 0);
  ORYX_CHECK(capacity <= c.max_seq_len, "prompt (", P, " tokens) plus ", opts.max_new,
             " new tokens exceed the model's max_seq_len of ", c.max_seq_len);

  // Inference mode, not just no-grad: the dispatcher skips autograd and version counting for
  // every op, host time that each of a prefill's hundreds of small operations pays.
  c10::InferenceMode inference;
  SdpaWithoutCudnn no_cudnn_plans;  // a prompt's length must not cost a new cuDNN plan
  auto dev = model->device();
  auto dtype = model->dtype();
  ModelCache cache(c, B, capacity, dev, dtype);
  GenerateResult res;
  res.prompt_tokens = P;
  res.cache_bytes = cache.bytes();
  res.tokens.assign(static_cast<size_t>(B), {});

  const auto t_call = std::chrono::steady_clock::now();
  auto prompt_modes = schedule.prompt_modes(P).contiguous();
  const bool* prompt_mode = prompt_modes.data_ptr<bool>();
  res.modes.assign(prompt_mode, prompt_mode + P);
  auto t0 = std::chrono::steady_clock::now();
  // Only the last prompt position is sampled from: the LM head runs on it alone.
  auto logits = model->head(model->hidden(prompts.to(dev), prompt_modes.to(dev), &cache).select(1, P - 1));
  res.prefill_ms = ms_since(t0, dev);

  std::mt19937_64 rng(opts.sampling.seed);
  // The next id of every sequence from logits [B,V] on the host (finite check, vocabulary
  // limit, the sampler); `i` counts the generated tokens before these.
  auto pick = [&](const torch::Tensor& logits, int64_t i) {
    auto logits_cpu = logits.to(torch::kCPU);
    ORYX_CHECK(torch::isfinite(logits_cpu).all().item<bool>(), "generate: the model's logits hold NaN or Inf at ",
               "generated token ", i + 1, " (position ", P + i, "): its weights or activations have overflowed");
    if (opts.vocab_limit > 0 && opts.vocab_limit < logits_cpu.size(-1))
      logits_cpu.narrow(-1, opts.vocab_limit, logits_cpu.size(-1) - opts.vocab_limit).fill_(-INFINITY);
    std::vector<int64_t> ids(static_cast<size_t>(B));
    for (int64_t b = 0; b < B; ++b) ids[static_cast<size_t>(b)] = sampling_pick(logits_cpu[b], opts.sampling, rng);
    return ids;
  };

  std::vector<bool> done(static_cast<size_t>(B), false);
  t0 = std::chrono::steady_clock::now();
  std::vector<int64_t> ids = opts.max_new > 0 ? pick(logits, 0) : std::vector<int64_t>{};
  if (opts.max_new > 0) res.first_token_ms = ms_since(t_call, dev);
#ifdef ORYX_WITH_CUDA_KERNELS
  // Set up after the first token, which needs no decode step (nor, with max_new 1, the
  // graphs' packed weights).
  std::optional<DecodeGraph> graph;
  if (opts.max_new > 1 && opts.cuda_graphs && opts.sampling.temperature == 0 && !reference_forced() &&
      DecodeGraph::available(dev)) {
    const auto t_setup = std::chrono::steady_clock::now();
    graph.emplace(model, cache, opts.vocab_limit, opts.fused_decode);
    res.decode_setup_ms += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t_setup).count();
    res.decode_path = graph->path();
  }
#endif
  for (int64_t i = 0; i < opts.max_new; ++i) {
    bool all_done = true;
    for (int64_t b = 0; b < B; ++b) {
      int64_t tok = ids[static_cast<size_t>(b)];
      auto& seq = res.tokens[static_cast<size_t>(b)];
      if (!done[static_cast<size_t>(b)]) {
        seq.push_back(tok);
        if (opts.stop_when && opts.stop_when(seq)) done[static_cast<size_t>(b)] = true;
      }
      if (opts.stop_token && tok == *opts.stop_token) done[static_cast<size_t>(b)] = true;
      all_done = all_done && done[static_cast<size_t>(b)];
    }
    if (all_done || i + 1 == opts.max_new) break;
    int64_t pos = P + i;
    bool mode_a = schedule.generated_mode(pos, P);
    res.modes.push_back(mode_a);
#ifdef ORYX_WITH_CUDA_KERNELS
    if (graph) {
      auto t_step = std::chrono::steady_clock::now();
      auto picks = graph->step(ids, mode_a);  // returns once the ids are on the host
      if (!picks.replayed) {
        ++res.decode_setup_steps;
        res.decode_setup_ms += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t_step).count();
      }
      ORYX_CHECK(picks.finite, "generate: the model's logits hold NaN or Inf at generated token ", i + 2,
                 " (position ", pos + 1, "): its weights or activations have overflowed");
      ids = std::move(picks.next);
    } else
#endif
    {
      auto next = torch::tensor(ids, torch::kLong).view({B, 1});
      auto modes = torch::full({1}, mode_a, torch::TensorOptions().dtype(torch::kBool));
      ids = pick(model->forward(next.to(dev), modes.to(dev), &cache).select(1, 0), i + 1);
    }
    ++res.decode_steps;
  }
  res.decode_ms = ms_since(t0, dev);
  int64_t n_a = std::count(res.modes.begin(), res.modes.end(), true);
  res.attention_fraction = res.modes.empty() ? 0.0 : static_cast<double>(n_a) / res.modes.size();
  return res;
}

}  // namespace oryx
