// AdamW (Loshchilov and Hutter) with decoupled weight decay, written out so that its state
// is plain named tensors we checkpoint in safetensors and resume bit for bit.
//
//   m = b1 m + (1 - b1) g,   v = b2 v + (1 - b2) g^2,   t = t + 1
//   p = p - lr wd p - lr (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
//
// Parameters that should not decay (norm gains, biases, A_log, dt_bias, D and, by default,
// embeddings) are recognised by name (adamw_decays). On CUDA the update runs through
// torch's fused AdamW kernel (one launch per step instead of ~10 per tensor); on the CPU
// it is the formula above, op by op. Both keep the moments in fp32.
#pragma once
#include <torch/torch.h>

#include <string>
#include <vector>

namespace oryx {

struct AdamWOptions {
  double lr = 3e-4;
  double beta1 = 0.9;
  double beta2 = 0.95;
  double eps = 1e-8;
  double weight_decay = 0.1;
  bool decay_embeddings = false;
};

// Whether the parameter called `name` gets weight decay.
bool adamw_decays(const std::string& name, const AdamWOptions& o);

class AdamW {
 public:
  AdamW(const std::vector<std::pair<std::string, torch::Tensor>>& params, AdamWOptions o);

  // One update with learning rate `lr` (the schedule's current value); grads are read from
  // each parameter's .grad(). Parameters without a gradient are skipped.
  void step(double lr);
  // Drops the gradients (set to none, as torch's optimizers do by default).
  void zero_grad();

  int64_t steps() const { return t_; }
  const AdamWOptions& options() const { return o_; }

  // The moments as named tensors ("exp_avg.<param>", "exp_avg_sq.<param>") plus the step,
  // for checkpoints; load_state validates names, dtypes (I64 step, F32 moments), shapes and
  // values (a step >= 0, finite moments, second moments >= 0).
  std::vector<std::pair<std::string, torch::Tensor>> state() const;
  void load_state(const std::vector<std::pair<std::string, torch::Tensor>>& state,
                  const std::string& where);

 private:
  struct Slot {
    std::string name;
    torch::Tensor param, exp_avg, exp_avg_sq;
    bool decay;
  };
  AdamWOptions o_;
  std::vector<Slot> slots_;
  int64_t t_ = 0;
};

}  // namespace oryx
