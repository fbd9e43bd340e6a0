#include "oryx/eval/loss.h"

#include <cmath>
#include <memory>

#include "oryx/common/error.h"
#include "oryx/common/progress.h"
#include "oryx/common/shape.h"

namespace oryx {

namespace {

// fp32 log-softmax unless the logits are fp64: bf16 logits lose the small probabilities
// that perplexity depends on.
torch::Tensor log_probs(const torch::Tensor& logits) {
  auto x = logits.scalar_type() == torch::kFloat64 ? logits : logits.to(torch::kFloat32);
  return torch::log_softmax(x, -1);
}

void check_pair(const torch::Tensor& logits, const torch::Tensor& targets) {
  ORYX_CHECK(logits.dim() == targets.dim() + 1, "logits ", shape_str(logits.sizes()),
             " and targets ", shape_str(targets.sizes()), ": expected logits [...,V] over targets [...]");
  for (int64_t d = 0; d < targets.dim(); ++d)
    ORYX_CHECK(logits.size(d) == targets.size(d), "logits ", shape_str(logits.sizes()),
               " do not match targets ", shape_str(targets.sizes()));
  ORYX_CHECK(targets.scalar_type() == torch::kLong, "targets must be int64, got ",
             targets.scalar_type());
}

}  // namespace

torch::Tensor token_nll(const torch::Tensor& logits, const torch::Tensor& targets,
                        int64_t ignore_index) {
  check_pair(logits, targets);
  auto t = targets.to(logits.device());
  auto valid = t != ignore_index;
  auto idx = torch::where(valid, t, torch::zeros_like(t)).unsqueeze(-1);
  auto nll = -log_probs(logits).gather(-1, idx).squeeze(-1);
  return nll * valid.to(nll.scalar_type());
}

torch::Tensor token_loss(const torch::Tensor& logits, const torch::Tensor& targets,
                         int64_t ignore_index) {
  auto nll = token_nll(logits, targets, ignore_index);
  auto count = (targets.to(logits.device()) != ignore_index).sum().clamp_min(1);
  return nll.sum() / count.to(nll.scalar_type());
}

std::vector<int32_t> token_byte_lengths(const Tokenizer& tok) {
  std::vector<int32_t> bytes(static_cast<size_t>(tok.vocab_size()), 0);
  static const std::string kReplacement = "\xEF\xBF\xBD";
  for (int64_t id = 0; id < tok.vocab_size(); ++id) {
    if (id == tok.eod_id()) continue;
    std::string piece = tok.decode({id});
    bytes[static_cast<size_t>(id)] =
        piece == kReplacement ? 1 : static_cast<int32_t>(piece.size());
  }
  return bytes;
}

double EvalLoss::perplexity() const { return std::exp(loss()); }

nlohmann::json EvalLoss::to_json() const {
  nlohmann::json j = {{"loss", loss()},
                      {"perplexity", perplexity()},
                      {"tokens", tokens},
                      {"attention_fraction", attention_fraction()},
                      {"tokens_fed", fed},
                      {"tokens_a", fed_a},
                      {"loss_mode_a", mode_a.tokens ? nlohmann::json(mode_a.loss()) : nlohmann::json()},
                      {"loss_mode_l", mode_l.tokens ? nlohmann::json(mode_l.loss()) : nlohmann::json()},
                      {"tokens_mode_a", mode_a.tokens},
                      {"tokens_mode_l", mode_l.tokens}};
  j["bits_per_byte"] = bits_per_byte ? nlohmann::json(*bits_per_byte) : nlohmann::json();
  j["bytes"] = bytes;
  return j;
}

ModeFn schedule_mode_fn(const Schedule& schedule) {
  return [schedule](const torch::Tensor& inputs) { return schedule.prompt_modes(inputs.size(1)); };
}

EvalLoss eval_loss(OryxModel& model, const BatchSource& next, const ModeFn& modes,
                   const EvalLossOptions& opts) {
  torch::NoGradGuard no_grad;
  const auto device = model->device();
  torch::Tensor byte_table;
  if (opts.token_bytes)
    byte_table = torch::tensor(*opts.token_bytes, torch::kLong).to(device);
  std::unique_ptr<ProgressBar> bar;
  if (!opts.progress_label.empty())
    bar = std::make_unique<ProgressBar>(opts.progress_label, opts.total_rows, "seq");
  EvalLoss r;
  double bpb_nll = 0;
  int64_t rows = 0;
  while (auto batch = next()) {
    const auto& inputs = batch->inputs;
    ORYX_CHECK(inputs.dim() == 2 && inputs.sizes() == batch->targets.sizes(), "batch inputs ",
               shape_str(inputs.sizes()), " and targets ", shape_str(batch->targets.sizes()),
               " must both be [B,T]");
    const int64_t B = inputs.size(0), T = inputs.size(1);
    auto mask = modes(inputs).to(torch::kBool);
    auto hidden = model->hidden(inputs, mask);  // [B,T,D]
    auto rows_mask = (mask.dim() == 1 ? mask.unsqueeze(0).expand({B, T}) : mask).to(device);
    r.fed += B * T;
    r.fed_a += rows_mask.sum().item<int64_t>();

    auto h = hidden.reshape({B * T, hidden.size(-1)});
    auto targets = batch->targets.reshape({B * T}).to(device);
    auto is_a = rows_mask.reshape({B * T});
    // Sums stay on the device in fp64 until the end of the batch: one sync per batch.
    auto zero = torch::zeros({}, torch::TensorOptions().dtype(torch::kFloat64).device(device));
    auto nll_all = zero.clone(), nll_a = zero.clone(), nll_bytes = zero.clone();
    std::vector<torch::Tensor> nll_parts;  // kept only for on_batch
    auto n_all = zero.clone(), n_a = zero.clone(), n_bytes = zero.clone();
    for (int64_t s = 0; s < B * T; s += opts.head_chunk) {
      const int64_t e = std::min(B * T, s + opts.head_chunk);
      auto t = targets.slice(0, s, e);
      auto nll = token_nll(model->head(h.slice(0, s, e)), t).to(torch::kFloat64);
      if (opts.on_batch) nll_parts.push_back(nll);
      auto valid = (t != kIgnoreIndex).to(torch::kFloat64);
      auto a = is_a.slice(0, s, e).to(torch::kFloat64) * valid;
      nll_all += nll.sum();
      n_all += valid.sum();
      nll_a += (nll * a).sum();
      n_a += a.sum();
      if (byte_table.defined()) {
        auto lengths = byte_table.index_select(0, t.clamp_min(0)).to(torch::kFloat64) * valid;
        nll_bytes += (nll * (lengths > 0).to(torch::kFloat64)).sum();
        n_bytes += lengths.sum();
      }
    }
    if (opts.on_batch) opts.on_batch(*batch, rows_mask.cpu(), torch::cat(nll_parts).view({B, T}).cpu());
    const double total = nll_all.item<double>(), in_a = nll_a.item<double>();
    const auto count = static_cast<int64_t>(n_all.item<double>());
    const auto count_a = static_cast<int64_t>(n_a.item<double>());
    r.nll += total;
    r.tokens += count;
    r.mode_a.nll += in_a;
    r.mode_a.tokens += count_a;
    r.mode_l.nll += total - in_a;
    r.mode_l.tokens += count - count_a;
    bpb_nll += nll_bytes.item<double>();
    r.bytes += static_cast<int64_t>(n_bytes.item<double>());
    rows += B;
    if (bar) {
      char extra[64];
      std::snprintf(extra, sizeof extra, "loss %.4f", r.loss());
      bar->update(rows, extra);
    }
  }
  if (bar) bar->finish();
  if (byte_table.defined() && r.bytes > 0) r.bits_per_byte = bpb_nll / std::log(2.0) / r.bytes;
  return r;
}

EvalLoss eval_loss(OryxModel& model, EvalWindows& windows, const Schedule& schedule,
                   const EvalLossOptions& opts) {
  EvalLossOptions o = opts;
  if (o.total_rows == 0) o.total_rows = windows.windows();
  auto r = eval_loss(model, [&windows] { return windows.next(); }, schedule_mode_fn(schedule), o);
  windows.reset();
  return r;
}

}  // namespace oryx
