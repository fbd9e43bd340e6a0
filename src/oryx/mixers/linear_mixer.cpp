#include "oryx/mixers/linear_mixer.h"

#include "oryx/common/error.h"
#include "oryx/layer/init.h"
#include "oryx/layer/ops.h"
#include "oryx/mixers/dispatch.h"

namespace oryx {

// Defined beside each variant (mixers/gdn/mixer.cpp, mixers/mamba2/mixer.cpp).
LinearMixer linear_mixer_create_gdn(const ModelConfig& c);
LinearMixer linear_mixer_create_mamba2(const ModelConfig& c);

LinearMixer linear_mixer_create(const ModelConfig& c) {
  switch (c.linear) {
    case LinearKind::GatedDeltaNet: return linear_mixer_create_gdn(c);
    case LinearKind::Mamba2: return linear_mixer_create_mamba2(c);
    case LinearKind::None: break;
  }
  ORYX_FAIL("config '", c.name, "' has no linear mixer");
}

LinearMixerImpl::LinearMixerImpl(const ModelConfig& c) : c_(c) {
  if (!c.share_q) w_q = register_parameter("w_q", init_linear(c.qk_dim(), c.d_model, c.init_std));
  conv_q = register_parameter("conv_q", init_conv(c.qk_dim(), c.conv_kernel));
  if (c.separate_out_norm) out_norm = register_parameter("out_norm", torch::ones({c.head_dim_v}));
}

torch::Tensor LinearMixerImpl::forward(const torch::Tensor& x, const torch::Tensor& q_shared,
                                       const torch::Tensor& k, const torch::Tensor& v,
                                       LayerCache* cache, MixerForm form) {
  int64_t B = x.size(0), T = x.size(1);
  auto q_raw = q_shared.defined() ? q_shared : torch::nn::functional::linear(x, w_q);
  auto q_conv = short_conv_cached(q_raw, conv_q, cache ? &cache->conv_q : nullptr, form == MixerForm::Auto,
                                  q_conv_silu());
  auto q = queries(q_conv.view({B, T, c_.n_heads, c_.head_dim_k}));
  auto gt = gates(x);
  torch::Tensor h0 = cache ? cache->state : torch::Tensor();

  RecurrenceOutput r;
  if (form == MixerForm::Naive) {
    r = linear_naive(c_.linear, q, k, v, gt.g, gt.beta, h0, scale());
  } else if (cache && T == 1 && cache_writes_in_place()) {
    // Model::decode_step: the state is updated in place (by the step kernel on the GPU).
    r = linear_step_(c_.linear, q.select(1, 0), k.select(1, 0), v.select(1, 0),
                     gt.g.select(1, 0), gt.beta.select(1, 0), cache->state, scale());
    r.o = r.o.unsqueeze(1);
  } else if (cache && T == 1) {
    r = linear_step(c_.linear, q.select(1, 0), k.select(1, 0), v.select(1, 0),
                    gt.g.select(1, 0), gt.beta.select(1, 0), h0, scale());
    r.o = r.o.unsqueeze(1);
    cache_store(cache->state, r.state);
  } else {
    r = linear_chunked(c_.linear, q, k, v, gt.g, gt.beta, h0, scale(), c_.chunk_size);
    if (cache) cache_store(cache->state, r.state);
  }
  return finish(r.o, v);
}

}  // namespace oryx
