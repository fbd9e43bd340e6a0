#include "oryx/eval/score.h"

#include <algorithm>
#include <memory>
#include <numeric>

#include "oryx/common/error.h"
#include "oryx/common/progress.h"
#include "oryx/eval/loss.h"

namespace oryx {

std::string eval_schedule_name(const Schedule& schedule) {
  const std::string full = schedule.describe();
  const std::string fallback = schedule.kind == ScheduleKind::Mask ? ",gen=last" : ",gen=schedule";
  const bool is_default = full.size() >= fallback.size() &&
                          full.compare(full.size() - fallback.size(), fallback.size(), fallback) == 0;
  return is_default ? full.substr(0, full.size() - fallback.size()) : full;
}

torch::Tensor sequence_modes(const Schedule& schedule, int64_t length, int64_t prompt_len) {
  ORYX_CHECK(prompt_len >= 0 && prompt_len <= length, "prompt of ", prompt_len,
             " tokens in a sequence of ", length);
  auto m = torch::empty({length}, torch::kBool);
  if (prompt_len > 0) m.slice(0, 0, prompt_len).copy_(schedule.prompt_modes(prompt_len));
  auto* p = m.data_ptr<bool>();
  for (int64_t t = prompt_len; t < length; ++t) p[t] = schedule.generated_mode(t, prompt_len);
  return m;
}

std::vector<SequenceScore> score_sequences(OryxModel& model, const std::vector<ScoredSequence>& seqs,
                                           const Schedule& schedule, const ScoreOptions& opts) {
  ORYX_CHECK(opts.batch >= 1, "batch must be at least 1, got ", opts.batch);
  const int64_t max_len = model->config().max_seq_len;
  for (size_t i = 0; i < seqs.size(); ++i) {
    const auto& s = seqs[i];
    const auto n = static_cast<int64_t>(s.tokens.size());
    ORYX_CHECK(n > 0, "sequence ", i, " is empty");
    ORYX_CHECK(n <= max_len, "sequence ", i, " has ", n, " tokens, more than the model's max_seq_len of ",
               max_len);
    ORYX_CHECK(s.targets.size() == s.tokens.size(), "sequence ", i, ": ", s.targets.size(),
               " targets for ", n, " tokens");
    ORYX_CHECK(s.modes.empty() || s.modes.size() == s.tokens.size(), "sequence ", i, ": ", s.modes.size(),
               " modes for ", n, " tokens");
    for (int64_t t : s.targets)
      ORYX_CHECK(t == kIgnoreIndex || (t >= 0 && t < model->config().vocab_size), "sequence ", i,
                 ": target id ", t, " is outside the model's vocabulary of ", model->config().vocab_size);
  }
  torch::NoGradGuard no_grad;
  const auto device = model->device();
  const int64_t vocab = model->config().vocab_size;
  const int64_t limit = opts.vocab_limit > 0 ? std::min(opts.vocab_limit, vocab) : vocab;

  // Longest first, so each batch pads little.
  std::vector<size_t> order(seqs.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return seqs[a].tokens.size() > seqs[b].tokens.size(); });

  std::unique_ptr<ProgressBar> bar;
  if (!opts.progress_label.empty())
    bar = std::make_unique<ProgressBar>(opts.progress_label, static_cast<int64_t>(seqs.size()), "seq");
  std::vector<SequenceScore> scores(seqs.size());
  for (size_t start = 0; start < order.size(); start += static_cast<size_t>(opts.batch)) {
    const size_t end = std::min(order.size(), start + static_cast<size_t>(opts.batch));
    const auto B = static_cast<int64_t>(end - start);
    const auto T = static_cast<int64_t>(seqs[order[start]].tokens.size());
    auto tokens = torch::zeros({B, T}, torch::kLong);
    auto targets = torch::full({B, T}, kIgnoreIndex, torch::kLong);
    auto modes = torch::zeros({B, T}, torch::kBool);
    for (int64_t r = 0; r < B; ++r) {
      const auto& s = seqs[order[start + static_cast<size_t>(r)]];
      auto& score = scores[order[start + static_cast<size_t>(r)]];
      const auto n = static_cast<int64_t>(s.tokens.size());
      tokens[r].slice(0, 0, n).copy_(torch::tensor(s.tokens, torch::kLong));
      targets[r].slice(0, 0, n).copy_(torch::tensor(s.targets, torch::kLong));
      auto m = s.modes.empty() ? sequence_modes(schedule, n, s.prompt_len) : torch::empty({n}, torch::kBool);
      if (!s.modes.empty()) std::copy(s.modes.begin(), s.modes.end(), m.data_ptr<bool>());
      modes[r].slice(0, 0, n).copy_(m);
      modes[r].slice(0, n, T).fill_(m[n - 1].item<bool>());
      score.fed = n;
      score.fed_a = m.sum().item<int64_t>();
    }
    auto hidden = model->hidden(tokens, modes);  // [B,T,D]
    // Only the scored positions go through the LM head.
    auto where = (targets != kIgnoreIndex).reshape({B * T}).nonzero().squeeze(1);
    if (where.numel() == 0) continue;
    auto picked = hidden.reshape({B * T, hidden.size(-1)}).index_select(0, where.to(device));
    auto tgt = targets.reshape({B * T}).index_select(0, where);
    auto logits = model->head(picked);  // [P,V] fp32
    auto ll = (-token_nll(logits, tgt)).to(torch::kFloat64).cpu();
    auto best = logits.slice(1, 0, limit).argmax(1).cpu();
    auto rows = torch::div(where, T, "floor");
    auto ll_a = ll.accessor<double, 1>();
    auto best_a = best.accessor<int64_t, 1>();
    auto tgt_a = tgt.accessor<int64_t, 1>();
    auto rows_a = rows.accessor<int64_t, 1>();
    for (int64_t p = 0; p < where.numel(); ++p) {
      auto& score = scores[order[start + static_cast<size_t>(rows_a[p])]];
      score.targets += 1;
      score.correct += best_a[p] == tgt_a[p];
      score.log_likelihood += ll_a[p];
    }
    if (bar) bar->update(static_cast<int64_t>(end));
  }
  if (bar) bar->finish();
  return scores;
}

}  // namespace oryx
