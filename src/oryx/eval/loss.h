// Token loss: the one definition of cross-entropy the project uses, for training (the
// differentiable mean) and for evaluation (sums in fp64 over any number of batches).
//
//   logits   [B,T,V] (or [N,V]) float; log-softmax runs in fp32 (fp64 for fp64 logits)
//   targets  [B,T]   (or [N])   int64: the id expected after each position, or
//                               kIgnoreIndex where nothing is scored
//
// eval_loss walks batches (EvalWindows, or any source of Batch) under a mode schedule and
// reports the mean loss, its perplexity, the attention fraction the inputs were fed with
// (positions in mode A over all positions fed), the loss split by the mode of the position
// that predicted each target, and bits per byte when a tokenizer's byte lengths are given.
// It runs under NoGradGuard and leaves the model's train/eval flag alone, so a trainer can
// call it between steps.
#pragma once
#include <torch/types.h>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "oryx/data/loader.h"
#include "oryx/data/tokenizer.h"
#include "oryx/model/model.h"
#include "oryx/schedule/schedule.h"

namespace oryx {

constexpr int64_t kIgnoreIndex = -100;

// Mean of -log p(target) over the positions whose target is not `ignore_index`; a
// differentiable fp32 scalar (fp64 for fp64 logits). 0 when every target is ignored.
torch::Tensor token_loss(const torch::Tensor& logits, const torch::Tensor& targets,
                         int64_t ignore_index = kIgnoreIndex);

// -log p(target) per position, shaped like `targets`, 0 where ignored; no autograd needed.
torch::Tensor token_nll(const torch::Tensor& logits, const torch::Tensor& targets,
                        int64_t ignore_index = kIgnoreIndex);

// Bytes of text each id stands for, for bits per byte: the byte tokenizer's 256 bytes are 1,
// its end-of-document id 0; a SentencePiece id counts the bytes of its decoded piece, with a
// byte-fallback piece (which decodes alone to U+FFFD) counted as the 1 byte it is, and the
// end-of-document id 0. Ids that decode to nothing (control pieces) are 0.
std::vector<int32_t> token_byte_lengths(const Tokenizer& tok);

struct LossByMode {
  double nll = 0;       // summed over the targets predicted at positions in this mode
  int64_t tokens = 0;
  double loss() const { return tokens ? nll / static_cast<double>(tokens) : 0.0; }
};

struct EvalLoss {
  double nll = 0;            // summed -log p over scored targets (nats), fp64
  int64_t tokens = 0;        // targets scored
  int64_t fed = 0;           // input positions fed to the model
  int64_t fed_a = 0;         // ... of which in mode A
  LossByMode mode_a, mode_l; // split by the mode of the position that predicted the target
  // Bits per byte: nll over targets of non-zero byte length / ln 2 / their bytes. Special
  // tokens (end of document) carry no bytes and are left out of both sums.
  std::optional<double> bits_per_byte;
  int64_t bytes = 0;

  double loss() const { return tokens ? nll / static_cast<double>(tokens) : 0.0; }
  double perplexity() const;
  double attention_fraction() const { return fed ? static_cast<double>(fed_a) / fed : 0.0; }
  // {"loss", "perplexity", "tokens", "attention_fraction", "tokens_fed", "tokens_a",
  //  "loss_mode_a", "loss_mode_l", "tokens_mode_a", "tokens_mode_l", "bits_per_byte", "bytes"}
  nlohmann::json to_json() const;
};

// The modes of a batch from its inputs [B,T]: [B,T] or [T] bool, true = A.
using ModeFn = std::function<torch::Tensor(const torch::Tensor& inputs)>;

// Every row under `schedule.prompt_modes(T)`.
ModeFn schedule_mode_fn(const Schedule& schedule);

// The next batch, or nullopt at the end.
using BatchSource = std::function<std::optional<Batch>()>;

struct EvalLossOptions {
  const std::vector<int32_t>* token_bytes = nullptr;  // token_byte_lengths(): enables bits per byte
  int64_t total_rows = 0;            // sequences in all, for the progress bar (0: unknown)
  std::string progress_label;        // empty: no progress bar
  int64_t head_chunk = 8192;         // positions per LM-head slice (bounds [N,V] logits memory)
  // Called once per batch with its inputs, targets, modes and every target's -log p ([B,T],
  // on the CPU; 0 where the target is ignored): the per-token losses, for `--token-losses`.
  std::function<void(const Batch& batch, const torch::Tensor& modes, const torch::Tensor& nll)> on_batch;
};

// Loss over every batch `next` yields (targets may hold kIgnoreIndex).
EvalLoss eval_loss(OryxModel& model, const BatchSource& next, const ModeFn& modes,
                   const EvalLossOptions& opts = {});

// Loss over the windows from their current position to the end; rewinds them afterwards.
EvalLoss eval_loss(OryxModel& model, EvalWindows& windows, const Schedule& schedule,
                   const EvalLossOptions& opts = {});

}  // namespace oryx
