#include "oryx/generate/generate_batch.h"

#include <algorithm>
#include <random>

#include "oryx/common/error.h"
#include "oryx/mixers/attention/attention.h"

namespace oryx {

namespace {

// One sequence of the batch while it decodes.
struct Slot {
  const GenerateRequest* request = nullptr;
  GeneratedSequence out;
  StopRule stop;
  std::mt19937_64 rng;
  bool live = true;

  int64_t prompt_len() const { return static_cast<int64_t>(request->prompt.size()); }
};

// Prefills request b alone into row b of `cache`; returns the logits [1,V] of its last position.
torch::Tensor prefill_row(OryxModel& model, ModelCache& cache, int64_t b, Slot& s) {
  auto dev = model->device();
  int64_t P = s.prompt_len();
  auto modes = s.request->schedule.prompt_modes(P);
  for (int64_t t = 0; t < P; ++t) s.out.modes.push_back(modes[t].item<bool>());
  auto row = cache.row(b);
  auto prompt = torch::tensor(s.request->prompt, torch::kLong).unsqueeze(0).to(dev);
  // Only the last prompt position is sampled from: the LM head runs on it alone.
  auto logits = model->head(model->hidden(prompt, modes.to(dev), &row).select(1, P - 1));
  cache.store_row(b, row);
  return logits;
}

// Samples the next token of every live sequence from `logits` [B,V]; a sequence that ends is
// marked and its cache row retired. Returns the tokens to feed [B] (a retired row repeats its
// last token: its step still runs, unread).
std::vector<int64_t> sample_step(const torch::Tensor& logits, std::vector<Slot>& slots, ModelCache& cache,
                                 const BatchGenerateOptions& opts) {
  auto logits_cpu = logits.to(torch::kCPU);
  auto finite = torch::isfinite(logits_cpu).all(-1);  // [B], before the vocabulary cut
  if (opts.vocab_limit > 0 && opts.vocab_limit < logits_cpu.size(-1))
    logits_cpu.narrow(-1, opts.vocab_limit, logits_cpu.size(-1) - opts.vocab_limit).fill_(-INFINITY);
  std::vector<int64_t> next(slots.size(), 0);
  for (size_t b = 0; b < slots.size(); ++b) {
    auto& s = slots[b];
    auto& tokens = s.out.tokens;
    if (s.live) {
      ORYX_CHECK(finite[static_cast<int64_t>(b)].item<bool>(),
                 "generate: the model's logits hold NaN or Inf at generated token ", tokens.size() + 1,
                 " (position ", s.prompt_len() + static_cast<int64_t>(tokens.size()), ") of prompt ", b,
                 ": its weights or activations have overflowed");
      tokens.push_back(sampling_pick(logits_cpu[static_cast<int64_t>(b)], opts.sampling, s.rng));
      if (auto why = stop_check(s.stop, tokens)) {
        s.out.stop = *why;
        s.live = false;
      } else if (static_cast<int64_t>(tokens.size()) == s.request->max_new) {
        s.live = false;
      }
      if (!s.live) cache.retire_row(static_cast<int64_t>(b));
    }
    next[b] = tokens.empty() ? s.request->prompt.back() : tokens.back();
  }
  return next;
}

}  // namespace

int64_t generate_positions_needed(int64_t prompt_len, int64_t max_new) {
  return prompt_len + std::max<int64_t>(max_new - 1, 0);
}

std::vector<GeneratedSequence> generate_batch(OryxModel& model, const std::vector<GenerateRequest>& requests,
                                              const BatchGenerateOptions& opts) {
  sampling_check(opts.sampling);
  ORYX_CHECK(!requests.empty(), "generate: no prompts");
  ORYX_CHECK(opts.vocab_limit >= 0, "generate: vocab_limit must be >= 0");
  const auto& c = model->config();
  const auto B = static_cast<int64_t>(requests.size());
  std::vector<Slot> slots(requests.size());
  int64_t capacity = 1;
  for (size_t b = 0; b < requests.size(); ++b) {
    const auto& r = requests[b];
    auto& s = slots[b];
    s.request = &r;
    ORYX_CHECK(!r.prompt.empty(), "generate: prompt ", b, " is empty");
    ORYX_CHECK(r.max_new >= 0, "generate: prompt ", b, ": max_new must be >= 0");
    int64_t needed = generate_positions_needed(s.prompt_len(), r.max_new);
    ORYX_CHECK(needed <= c.max_seq_len, "generate: prompt ", b, " (", s.prompt_len(), " tokens) plus ", r.max_new,
               " new tokens exceed the model's max_seq_len of ", c.max_seq_len);
    capacity = std::max(capacity, needed);
    s.stop = {opts.tokenizer, r.stop};
    stop_rule_check(s.stop, "generate: prompt " + std::to_string(b) + ": ");
    s.rng.seed(r.seed);
    s.live = r.max_new > 0;
  }

  // Inference mode, not just no-grad: the dispatcher skips autograd and version counting for
  // every op, host time that each of a prefill's hundreds of small operations pays.
  c10::InferenceMode inference;
  SdpaWithoutCudnn no_cudnn_plans;  // a prompt's length must not cost a new cuDNN plan
  auto dev = model->device();
  ModelCache cache(c, B, capacity, dev, model->dtype());
  std::vector<torch::Tensor> first_logits;
  for (int64_t b = 0; b < B; ++b) {
    first_logits.push_back(prefill_row(model, cache, b, slots[static_cast<size_t>(b)]));
    if (!slots[static_cast<size_t>(b)].live) cache.retire_row(b);
  }
  auto logits = torch::cat(first_logits, 0);  // [B,V]

  auto bool_opts = torch::TensorOptions().dtype(torch::kBool);
  auto any_live = [&] { return std::any_of(slots.begin(), slots.end(), [](const Slot& s) { return s.live; }); };
  while (any_live()) {
    auto next = sample_step(logits, slots, cache, opts);
    if (!any_live()) break;
    // Each live sequence feeds its token in its own generated-token mode; a retired one
    // borrows a live one's mode, so it adds no mode the model's kind forbids.
    std::vector<int64_t> mode_a(slots.size(), 0);
    int64_t borrowed = -1;
    for (size_t b = 0; b < slots.size(); ++b) {
      auto& s = slots[b];
      if (!s.live) continue;
      int64_t pos = s.prompt_len() + static_cast<int64_t>(s.out.tokens.size()) - 1;
      bool a = s.request->schedule.generated_mode(pos, s.prompt_len());
      s.out.modes.push_back(a);
      mode_a[b] = a;
      if (borrowed < 0) borrowed = a;
    }
    for (size_t b = 0; b < slots.size(); ++b)
      if (!slots[b].live) mode_a[b] = borrowed;
    auto modes = torch::tensor(mode_a, torch::kLong).to(bool_opts).unsqueeze(1);           // [B,1]
    auto tokens = torch::tensor(next, torch::kLong).unsqueeze(1);                           // [B,1]
    logits = model->forward(tokens.to(dev), modes.to(dev), &cache).select(1, 0);
  }

  std::vector<GeneratedSequence> out;
  out.reserve(slots.size());
  for (auto& s : slots) {
    s.out.text = stop_text(s.stop, s.out.tokens);
    out.push_back(std::move(s.out));
  }
  return out;
}

}  // namespace oryx
