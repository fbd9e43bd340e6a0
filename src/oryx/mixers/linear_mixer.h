// Mode L of the Oryx layer: the linear-only ("supporting") parameters and the glue between
// the shared k, v and a linear recurrence. One interface for both variants; the layer never
// asks which one it holds.
//   parameters (both): w_q [H*K, D] (unless share_q), conv_q [H*K, W], A_log [H], dt_bias [H],
//                      out_norm [V] when separate_out_norm
//   GDN:     w_a [H, D] (decay input), w_b [H, D] (beta)     mixers/gdn/mixer.cpp
//   Mamba-2: w_dt [H, D] (time step), D [H] (skip)            mixers/mamba2/mixer.cpp
#pragma once
#include <torch/torch.h>

#include "oryx/cache/cache.h"
#include "oryx/config/model_config.h"
#include "oryx/layer/modes.h"

namespace oryx {

class LinearMixerImpl : public torch::nn::Module {
 public:
  explicit LinearMixerImpl(const ModelConfig& c);

  // x: normed input [B,T,D]; q_shared: shared-Q projection [B,T,H*K] or undefined;
  // k, v: shared keys/values [B,T,H,K]/[B,T,H,V]. With a cache, starts from and updates its
  // recurrent state and q-conv state. Returns o [B,T,H,V].
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& q_shared,
                        const torch::Tensor& k, const torch::Tensor& v, LayerCache* cache,
                        MixerForm form);

  torch::Tensor w_q, conv_q, A_log, dt_bias, out_norm;

 protected:
  struct Gates {
    torch::Tensor g;     // [B,T,H] log decay
    torch::Tensor beta;  // [B,T,H]
  };
  virtual Gates gates(const torch::Tensor& x) const = 0;
  // Whether SiLU follows q's short convolution (fused into it on the kernel path).
  virtual bool q_conv_silu() const = 0;
  // Post-convolution (and SiLU) processing of q: [B,T,H,K] -> [B,T,H,K].
  virtual torch::Tensor queries(const torch::Tensor& q) const = 0;
  // Anything added to the recurrence's output (Mamba-2's D skip).
  virtual torch::Tensor finish(const torch::Tensor& o, const torch::Tensor& v) const = 0;
  virtual double scale() const = 0;

  ModelConfig c_;
};
TORCH_MODULE(LinearMixer);

// The variant the config names.
LinearMixer linear_mixer_create(const ModelConfig& c);

}  // namespace oryx
