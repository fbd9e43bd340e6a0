#include "oryx/train/adamw.h"

#include <map>

#include "oryx/checkpoint/safetensors.h"
#include "oryx/common/error.h"
#include "oryx/common/finite.h"
#include "oryx/common/shape.h"

namespace oryx {

bool adamw_decays(const std::string& name, const AdamWOptions& o) {
  auto leaf = name.substr(name.rfind('.') == std::string::npos ? 0 : name.rfind('.') + 1);
  if (leaf == "embed") return o.decay_embeddings;
  // Gains of every RMSNorm, the recurrences' decay and step parameters, Mamba-2's skip.
  static const char* kNoDecay[] = {"norm1", "norm2", "final_norm", "out_norm", "q_norm", "k_norm",
                                   "A_log", "dt_bias", "D", "bias"};
  for (const char* n : kNoDecay)
    if (leaf == n) return false;
  return true;
}

AdamW::AdamW(const std::vector<std::pair<std::string, torch::Tensor>>& params, AdamWOptions o) : o_(o) {
  ORYX_CHECK(o.lr >= 0 && o.beta1 >= 0 && o.beta1 < 1 && o.beta2 >= 0 && o.beta2 < 1 && o.eps > 0 &&
                 o.weight_decay >= 0,
             "AdamW: invalid hyper-parameters (lr ", o.lr, ", betas ", o.beta1, "/", o.beta2, ", eps ",
             o.eps, ", weight decay ", o.weight_decay, ")");
  for (const auto& [name, p] : params) {
    auto opts = p.options().dtype(torch::kFloat32);
    slots_.push_back({name, p, torch::zeros(p.sizes(), opts), torch::zeros(p.sizes(), opts),
                      adamw_decays(name, o)});
  }
}

void AdamW::zero_grad() {
  // Dropped, not zeroed (torch's set_to_none): the next backward hands each parameter its
  // gradient without adding it to zeros (one kernel per parameter saved), and a parameter
  // the backward does not reach has none, so step() skips it.
  for (auto& s : slots_) s.param.mutable_grad().reset();
}

void AdamW::step(double lr) {
  torch::NoGradGuard no_grad;
  ++t_;
  bool cuda = !slots_.empty() && slots_[0].param.is_cuda();
  if (cuda && slots_[0].param.scalar_type() == torch::kFloat32) {
    // torch's fused kernel, one call per decay group. It takes per-parameter step counters
    // already incremented for this update (its bias corrections use beta^step).
    for (bool decay : {true, false}) {
      std::vector<torch::Tensor> p, g, m, v;
      for (auto& s : slots_) {
        if (s.decay != decay || !s.param.grad().defined()) continue;
        p.push_back(s.param);
        g.push_back(s.param.grad());
        m.push_back(s.exp_avg);
        v.push_back(s.exp_avg_sq);
      }
      if (p.empty()) continue;
      // The counters as views of one tensor: one fill, not one per parameter.
      auto steps = torch::full({static_cast<int64_t>(p.size())}, static_cast<double>(t_), m[0].options()).unbind();
      at::_fused_adamw_(p, g, m, v, {}, steps, lr, o_.beta1, o_.beta2, decay ? o_.weight_decay : 0.0,
                        o_.eps, /*amsgrad=*/false, /*maximize=*/false);
    }
    return;
  }
  double bc1 = 1.0 - std::pow(o_.beta1, static_cast<double>(t_));
  double bc2 = 1.0 - std::pow(o_.beta2, static_cast<double>(t_));
  for (auto& s : slots_) {
    if (!s.param.grad().defined()) continue;
    auto g = s.param.grad().to(torch::kFloat32);
    s.exp_avg.mul_(o_.beta1).add_(g, 1.0 - o_.beta1);
    s.exp_avg_sq.mul_(o_.beta2).addcmul_(g, g, 1.0 - o_.beta2);
    if (s.decay && o_.weight_decay > 0) s.param.mul_(1.0 - lr * o_.weight_decay);
    auto denom = (s.exp_avg_sq / bc2).sqrt_().add_(o_.eps);
    s.param.addcdiv_(s.exp_avg.to(s.param.scalar_type()), denom.to(s.param.scalar_type()), -lr / bc1);
  }
}

std::vector<std::pair<std::string, torch::Tensor>> AdamW::state() const {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  out.emplace_back("step", torch::tensor({t_}, torch::kLong));
  for (const auto& s : slots_) {
    out.emplace_back("exp_avg." + s.name, s.exp_avg);
    out.emplace_back("exp_avg_sq." + s.name, s.exp_avg_sq);
  }
  return out;
}

void AdamW::load_state(const std::vector<std::pair<std::string, torch::Tensor>>& state,
                       const std::string& where) {
  std::map<std::string, torch::Tensor> byname(state.begin(), state.end());
  auto get = [&](const std::string& name, const torch::Tensor& like) {
    auto it = byname.find(name);
    ORYX_CHECK(it != byname.end(), where, ": missing optimizer tensor '", name, "'");
    const torch::Tensor& t = it->second;
    ORYX_CHECK(t.scalar_type() == like.scalar_type(), where, ": optimizer tensor '", name, "' has dtype ",
               safetensors_dtype_name(t.scalar_type()), ", expected ", safetensors_dtype_name(like.scalar_type()));
    ORYX_CHECK(t.sizes() == like.sizes(), where, ": optimizer tensor '", name, "' has shape ",
               shape_str(t.sizes()), ", expected ", shape_str(like.sizes()));
    return t;
  };
  const int64_t step = get("step", torch::zeros({1}, torch::kLong)).item<int64_t>();
  ORYX_CHECK(step >= 0, where, ": optimizer step is ", step, ", expected a count >= 0");
  ORYX_CHECK(byname.size() == 1 + 2 * slots_.size(), where, ": optimizer state has ", byname.size(),
             " tensors, expected ", 1 + 2 * slots_.size(), " (a checkpoint of another model?)");
  // Everything is checked before anything is copied: a refused state leaves the optimizer as it was.
  std::vector<std::pair<std::string, torch::Tensor>> moments;
  for (const auto& s : slots_) {
    moments.emplace_back("exp_avg." + s.name, get("exp_avg." + s.name, s.exp_avg));
    moments.emplace_back("exp_avg_sq." + s.name, get("exp_avg_sq." + s.name, s.exp_avg_sq));
  }
  const std::string broken = first_non_finite(moments);
  ORYX_CHECK(broken.empty(), where, ": optimizer tensor '", broken, "' holds NaN or Inf values");
  for (size_t i = 1; i < moments.size(); i += 2)
    ORYX_CHECK(!(moments[i].second < 0).any().item<bool>(), where, ": optimizer tensor '", moments[i].first,
               "' holds negative values (a second moment is a mean of squares)");
  torch::NoGradGuard no_grad;
  t_ = step;
  for (size_t i = 0; i < slots_.size(); ++i) {
    slots_[i].exp_avg.copy_(moments[2 * i].second);
    slots_[i].exp_avg_sq.copy_(moments[2 * i + 1].second);
  }
}

}  // namespace oryx
