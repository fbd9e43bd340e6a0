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
  // Per-sequence positions [B,1] (decoding sequences of different lengths) come with one token
  // per sequence: the batch passes as the time axis, [1,B,H,K] at positions [B], so each row
  // gets the numbers (and the fused kernel) a one-sequence step gets.
  if (positions.dim() == 2) {
    TORCH_CHECK(x.size(1) == 1 && positions.size(1) == 1, "norm_rope: per-sequence positions take one token");
    return norm_rope(x.reshape({1, -1, x.size(2), x.size(3)}), gain, positions.reshape({-1})).reshape(x.sizes());
  }
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

torch::Tensor AttentionMixerImpl::forward_runs(const torch::Tensor& x, const torch::Tensor& q_shared,
                                               const torch::Tensor& ka, const torch::Tensor& v,
                                               const AttentionRuns& runs, double scale) const {
  int64_t B = x.size(0), T = x.size(1), H = c_.n_heads, K = c_.head_dim_k, V = c_.head_dim_v;
  auto xq = q_shared.defined() ? q_shared : x;
  if (runs.is_dense()) {
    // Every position of the sequences that have a mode-A token, plain causal attention.
    const auto& seqs = runs.dense_seqs;
    bool every_seq = seqs.size(0) == B;
    auto pick = [&](const torch::Tensor& t) { return every_seq ? t : index_select_unique(t, 0, seqs); };
    auto q = q_shared.defined() ? pick(xq) : torch::nn::functional::linear(pick(xq), w_q);
    auto positions = torch::arange(T, torch::TensorOptions().dtype(torch::kLong).device(x.device()));
    q = norm_rope(q.view({-1, T, H, K}), q_norm, positions);
    auto o = attention_chunked(q, pick(ka), pick(v), torch::Tensor(), scale);
    if (every_seq) return o;
    return torch::zeros({B, T, H, V}, o.options()).index_copy(0, seqs, o);
  }
  const auto& rows = runs.q_rows;  // b*T+t of each queried token
  xq = index_select_unique(xq.reshape({B * T, xq.size(2)}), 0, rows);
  auto q = q_shared.defined() ? xq : torch::nn::functional::linear(xq, w_q);
  q = norm_rope(q.view({1, -1, H, K}), q_norm, rows.remainder(T)).squeeze(0);  // [Nq,H,K]
  auto o = attention_runs(q, ka.reshape({B * T, H, K}), v.reshape({B * T, H, V}), runs, scale);
  return torch::zeros({B * T, H, V}, o.options()).index_copy(0, rows, o).view({B, T, H, V});
}

torch::Tensor AttentionMixerImpl::forward(const torch::Tensor& x, const torch::Tensor& q_shared,
                                          const torch::Tensor& k, const torch::Tensor& v,
                                          const TokenModes& modes, const torch::Tensor& positions,
                                          LayerCache* cache, int64_t L, MixerForm form) {
  int64_t B = x.size(0), T = x.size(1), H = c_.n_heads, K = c_.head_dim_k;
  auto ka = keys(k, positions);
  torch::Tensor k_all = ka, v_all = v;
  torch::Tensor key_counts;  // [B] keys each sequence sees, when positions are per sequence
  if (cache && positions.dim() == 2) {
    // Decoding sequences of different lengths ([B,1] positions): each token goes to its own
    // slot. A retired sequence may sit at the capacity; it rewrites the last slot, unread.
    auto slot = positions.select(1, 0).clamp_max(cache->k.size(1) - 1);
    auto seq = torch::arange(B, slot.options());
    cache->k.index_put_({seq, slot}, ka.select(1, 0).to(cache->k.scalar_type()));
    cache->v.index_put_({seq, slot}, v.select(1, 0).to(cache->v.scalar_type()));
    k_all = cache->k;
    v_all = cache->v;
    key_counts = slot + 1;
  } else if (cache) {
    cache->k.narrow(1, L, T).copy_(ka);
    cache->v.narrow(1, L, T).copy_(v);
    k_all = cache->k.narrow(1, 0, L + T);
    v_all = cache->v.narrow(1, 0, L + T);
  }
  if (!modes.any_a) return {};
  double scale = 1.0 / std::sqrt(static_cast<double>(K));
  if (modes.runs.defined() && !cache && form == MixerForm::Auto && !reference_forced())
    return forward_runs(x, q_shared, ka, v, modes.runs, scale);

  // Queries only where some sequence is in mode A (the union over the batch).
  const auto& rows = modes.a_positions;  // undefined: every position
  auto xq = q_shared.defined() ? q_shared : x;
  if (rows.defined()) xq = xq.index_select(1, rows);
  auto q = q_shared.defined() ? xq : torch::nn::functional::linear(xq, w_q);
  auto q_positions = rows.defined() ? positions.index_select(positions.dim() - 1, rows) : positions;
  q = norm_rope(q.view({B, -1, H, K}), q_norm, q_positions);

  torch::Tensor o;
  if (form == MixerForm::Naive) {
    o = attention_naive(q, k_all, v_all, q_positions, scale);
  } else if (cache && T == 1) {
    o = attention_step(q.select(1, 0), k_all, v_all, scale, key_counts).unsqueeze(1);
  } else {
    // Absolute positions index k_all directly; the plain causal case passes none.
    bool every_position = !rows.defined() && L == 0;
    o = attention_chunked(q, k_all, v_all, every_position ? torch::Tensor() : q_positions, scale);
  }
  if (!rows.defined()) return o;
  return torch::zeros({B, T, H, c_.head_dim_v}, o.options()).index_copy(1, rows, o);
}

}  // namespace oryx
