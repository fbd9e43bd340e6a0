#include "oryx/mixers/attention/mixer.h"

#include "oryx/layer/init.h"
#include "oryx/layer/ops.h"
#include "oryx/mixers/attention/attention.h"
#include "oryx/mixers/dispatch.h"
#ifdef ORYX_WITH_CUDA_KERNELS
#include "oryx/kernels/norm_rope_ops.h"
#endif

namespace oryx {

AttentionMixerImpl::AttentionMixerImpl(const ModelConfig& c) : c_(c) {
  if (!c.share_q) w_q = register_parameter("w_q", init_linear(c.qk_dim(), c.d_model, c.init_std));
  if (c.qk_norm) {
    q_norm = register_parameter("q_norm", torch::ones({c.head_dim_k}));
    k_norm = register_parameter("k_norm", torch::ones({c.head_dim_k}));
  }
  if (c.separate_out_norm) out_norm = register_parameter("out_norm", torch::ones({c.head_dim_v}));
}

torch::Tensor AttentionMixerImpl::norm_rope(const torch::Tensor& x, const torch::Tensor& gain,
                                            const torch::Tensor& positions) const {
#ifdef ORYX_WITH_CUDA_KERNELS
  if (c_.rope && !reference_forced()) {
    auto w = c_.qk_norm ? gain : torch::Tensor();
    if (kernels_norm_rope_supported(x, w, positions))
      return kernels_norm_rope(x, w, positions, c_.rope_theta, c_.norm_eps);
  }
#endif
  auto n = c_.qk_norm ? rms_norm(x, gain, c_.norm_eps) : x;
  return c_.rope ? rope_apply(n, positions, c_.rope_theta) : n;
}

torch::Tensor AttentionMixerImpl::keys(const torch::Tensor& k, const torch::Tensor& positions) const {
  return norm_rope(k, k_norm, positions);
}

torch::Tensor AttentionMixerImpl::forward(const torch::Tensor& x, const torch::Tensor& q_shared,
                                          const torch::Tensor& k, const torch::Tensor& v,
                                          const TokenModes& modes, const torch::Tensor& positions,
                                          LayerCache* cache, int64_t L, MixerForm form) {
  int64_t B = x.size(0), T = x.size(1), H = c_.n_heads, K = c_.head_dim_k;
  auto ka = keys(k, positions);
  torch::Tensor k_all = ka, v_all = v;
  if (cache) {
    cache->k.narrow(1, L, T).copy_(ka);
    cache->v.narrow(1, L, T).copy_(v);
    k_all = cache->k.narrow(1, 0, L + T);
    v_all = cache->v.narrow(1, 0, L + T);
  }
  if (!modes.any_a) return {};

  // Queries only where some sequence is in mode A (chunk-sparse attention).
  const auto& rows = modes.a_positions;  // undefined: every position
  auto xq = q_shared.defined() ? q_shared : x;
  if (rows.defined()) xq = xq.index_select(1, rows);
  auto q = q_shared.defined() ? xq : torch::nn::functional::linear(xq, w_q);
  auto q_positions = rows.defined() ? positions.index_select(0, rows) : positions;
  q = norm_rope(q.view({B, -1, H, K}), q_norm, q_positions);

  double scale = 1.0 / std::sqrt(static_cast<double>(K));
  torch::Tensor o;
  if (form == MixerForm::Naive) {
    o = attention_naive(q, k_all, v_all, q_positions, scale);
  } else if (cache && T == 1) {
    o = attention_step(q.select(1, 0), k_all, v_all, scale).unsqueeze(1);
  } else {
    // Absolute positions index k_all directly; the plain causal case passes none.
    bool every_position = !rows.defined() && L == 0;
    o = attention_chunked(q, k_all, v_all, every_position ? torch::Tensor() : q_positions, scale);
  }
  if (!rows.defined()) return o;
  return torch::zeros({B, T, H, c_.head_dim_v}, o.options()).index_copy(1, rows, o);
}

}  // namespace oryx
