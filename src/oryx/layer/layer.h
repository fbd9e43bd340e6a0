// One Oryx block (SPEC section 1): pre-norm token mixer whose output each token takes from
// its own mode, then a pre-norm SwiGLU MLP, both residual.
//
//   x = RMSNorm(h)
//   k = ShortConv_k(x W_k), v = ShortConv_v(x W_v)   shared; [+ SiLU] [+ L2norm(k)]
//   o_t = attention_t (mode A) or recurrence_t (mode L); every token feeds both the KV cache
//         and the recurrent state
//   h = h + GatedRMSNorm(o, x W_g) W_o;   h = h + MLP(RMSNorm(h))
// (each residual add is done by the norm that follows it: add_rms_norm, layer/ops.h)
//
// Shared parameters (used by both modes): norm1, w_k, w_v, conv_k, conv_v, w_g, out_norm,
// w_o, norm2, mlp.*, and w_q when share_q. Mode-specific ones live in the submodules
// `attn` (AttentionMixer) and `lin` (LinearMixer); a transformer has no `lin`, a pure
// linear model no `attn`.
#pragma once
#include <torch/torch.h>

#include "oryx/cache/cache.h"
#include "oryx/config/model_config.h"
#include "oryx/layer/modes.h"
#include "oryx/mixers/attention/mixer.h"
#include "oryx/mixers/linear_mixer.h"

namespace oryx {

// The residual stream between layers: h [B,T,D] plus `delta`, the previous layer's MLP output
// not yet added (undefined for none), so that the next norm adds it in the same kernel
// (add_rms_norm). The stream's value is h + delta.
struct Residual {
  torch::Tensor h, delta;
};

class OryxLayerImpl : public torch::nn::Module {
 public:
  explicit OryxLayerImpl(const ModelConfig& c);

  // The stream after this layer. positions [T] absolute, or [B,1] each sequence's own
  // (decoding a cache whose sequences differ in length; cache_length is unused then); cache
  // (optional) holds cache_length earlier tokens.
  Residual forward(const Residual& in, const TokenModes& modes, const torch::Tensor& positions,
                   LayerCache* cache, int64_t cache_length, MixerForm form);

 private:
  // The normed stream's projections every mode uses (before the short convolutions).
  struct Projections {
    torch::Tensor k, v, gate, q_shared;  // q_shared undefined unless the config shares q
  };
  // The token mixer's output o [B,T,H,V] before the output norm.
  torch::Tensor mix(const torch::Tensor& x, const Projections& proj, const TokenModes& modes,
                    const torch::Tensor& positions, LayerCache* cache, int64_t cache_length, MixerForm form);
  torch::Tensor out_norm_apply(const torch::Tensor& o, const torch::Tensor& gate,
                               const TokenModes& modes) const;

  ModelConfig c_;
  torch::Tensor norm1, w_k, w_v, conv_k, conv_v, w_q, w_g, out_norm, w_o;
  torch::Tensor norm2, w_gate, w_up, w_down;
  AttentionMixer attn{nullptr};
  LinearMixer lin{nullptr};
};
TORCH_MODULE(OryxLayer);

}  // namespace oryx
