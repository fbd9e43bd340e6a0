#include "oryx/layer/layer.h"

#include "oryx/layer/init.h"
#include "oryx/layer/ops.h"
#include "oryx/layer/projections.h"

namespace oryx {

namespace F = torch::nn::functional;

OryxLayerImpl::OryxLayerImpl(const ModelConfig& c) : c_(c) {
  int64_t D = c.d_model, HK = c.qk_dim(), HV = c.v_dim();
  // Residual-branch outputs start smaller so the residual stream's variance does not grow
  // with depth (GPT-2's scheme).
  double out_std = c.init_std / std::sqrt(2.0 * c.n_layers);
  norm1 = register_parameter("norm1", torch::ones({D}));
  w_k = register_parameter("w_k", init_linear(HK, D, c.init_std));
  w_v = register_parameter("w_v", init_linear(HV, D, c.init_std));
  conv_k = register_parameter("conv_k", init_conv(HK, c.conv_kernel));
  conv_v = register_parameter("conv_v", init_conv(HV, c.conv_kernel));
  if (c.share_q) w_q = register_parameter("w_q", init_linear(HK, D, c.init_std));
  w_g = register_parameter("w_g", init_linear(HV, D, c.init_std));
  if (!c.separate_out_norm) out_norm = register_parameter("out_norm", torch::ones({c.head_dim_v}));
  w_o = register_parameter("w_o", init_linear(D, HV, out_std));
  norm2 = register_parameter("norm2", torch::ones({D}));
  w_gate = register_parameter("w_gate", init_linear(c.mlp_hidden, D, c.init_std));
  w_up = register_parameter("w_up", init_linear(c.mlp_hidden, D, c.init_std));
  w_down = register_parameter("w_down", init_linear(D, c.mlp_hidden, out_std));
  if (c.has_attention()) attn = register_module("attn", AttentionMixer(c));
  if (c.has_linear()) lin = register_module("lin", linear_mixer_create(c));
}

torch::Tensor OryxLayerImpl::mix(const torch::Tensor& x, const Projections& proj, const TokenModes& modes,
                                 const torch::Tensor& positions, LayerCache* cache, int64_t cache_length,
                                 MixerForm form) {
  int64_t B = x.size(0), T = x.size(1), H = c_.n_heads;
  const bool decode_step = form == MixerForm::Auto;
  auto k = short_conv_cached(proj.k, conv_k, cache ? &cache->conv_k : nullptr, decode_step, c_.kv_conv_silu);
  auto v = short_conv_cached(proj.v, conv_v, cache ? &cache->conv_v : nullptr, decode_step, c_.kv_conv_silu);
  k = k.view({B, T, H, c_.head_dim_k});
  v = v.view({B, T, H, c_.head_dim_v});
  if (c_.k_l2norm) k = l2_normalize(k);
  const auto& q_shared = proj.q_shared;

  torch::Tensor o_a, o_l;
  if (attn) o_a = attn->forward(x, q_shared, k, v, modes, positions, cache, cache_length, form);
  // The recurrence runs whenever some token reads it, and always with a cache: every token
  // must update the state, whatever its mode.
  if (lin && (modes.any_l || cache)) o_l = lin->forward(x, q_shared, k, v, cache, form);
  if (!o_a.defined()) return o_l;
  if (!o_l.defined()) return o_a;
  auto pick_a = modes.is_attention.unsqueeze(-1).unsqueeze(-1);  // [B,T,1,1]
  return torch::where(pick_a, o_a, o_l.to(o_a.scalar_type()));
}

torch::Tensor OryxLayerImpl::out_norm_apply(const torch::Tensor& o, const torch::Tensor& gate,
                                            const TokenModes& modes) const {
  if (!c_.separate_out_norm) return gated_rms_norm(o, gate, out_norm, c_.norm_eps);
  auto y_a = gated_rms_norm(o, gate, attn->out_norm, c_.norm_eps);
  auto y_l = gated_rms_norm(o, gate, lin->out_norm, c_.norm_eps);
  return torch::where(modes.is_attention.unsqueeze(-1).unsqueeze(-1), y_a, y_l);
}

Residual OryxLayerImpl::forward(const Residual& in, const TokenModes& modes, const torch::Tensor& positions,
                                LayerCache* cache, int64_t cache_length, MixerForm form) {
  int64_t B = in.h.size(0), T = in.h.size(1);
  // x and x2 feed only matmuls (the mixers' projections and gates, the MLP).
  auto [h, x] = add_rms_norm(in.h, in.delta, norm1, c_.norm_eps);
  // One call for x's projections: their input gradients accumulate inside the matmuls.
  std::vector<torch::Tensor> weights{w_k, w_v, w_g};
  if (c_.share_q) weights.push_back(w_q);
  auto p = linear_many(x, weights);
  Projections proj{p[0], p[1], p[2], c_.share_q ? p[3] : torch::Tensor()};
  auto o = mix(x, proj, modes, positions, cache, cache_length, form);
  auto gate = proj.gate.view({B, T, c_.n_heads, c_.head_dim_v});
  auto y = out_norm_apply(o, gate, modes).reshape({B, T, c_.v_dim()});
  auto [h1, x2] = add_rms_norm(h, F::linear(y, w_o), norm2, c_.norm_eps);
  auto mlp = linear_many(x2, {w_gate, w_up});
  return {h1, F::linear(swiglu(mlp[0], mlp[1]), w_down)};
}

}  // namespace oryx
