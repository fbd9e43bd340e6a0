#include "oryx/config/param_count.h"

namespace oryx {

// Mirrors the constructors of OryxModelImpl, OryxLayerImpl, AttentionMixerImpl and the
// linear mixers (LinearMixerImpl, the GDN and Mamba-2 gates).
ParamCounts config_param_counts(const ModelConfig& c) {
  const int64_t D = c.d_model, H = c.n_heads, K = c.head_dim_k, V = c.head_dim_v;
  const int64_t HK = c.qk_dim(), HV = c.v_dim(), F = c.mlp_hidden, W = c.conv_kernel;
  const int64_t out_norm = V;

  int64_t layer_shared = D + HK * D + HV * D      // norm1, w_k, w_v
                         + HK * W + HV * W        // conv_k, conv_v
                         + HV * D + D * HV + D    // w_g, w_o, norm2
                         + 3 * F * D;             // w_gate, w_up, w_down
  if (c.share_q) layer_shared += HK * D;
  if (!c.separate_out_norm) layer_shared += out_norm;

  int64_t layer_attention = 0;
  if (c.has_attention()) {
    if (!c.share_q) layer_attention += HK * D;
    if (c.qk_norm) layer_attention += 2 * K;
    if (c.separate_out_norm) layer_attention += out_norm;
  }

  int64_t layer_linear = 0;
  if (c.has_linear()) {
    if (!c.share_q) layer_linear += HK * D;
    layer_linear += HK * W;  // conv_q
    if (c.separate_out_norm) layer_linear += out_norm;
    if (c.linear == LinearKind::GatedDeltaNet) layer_linear += 2 * H * D + 2 * H;  // w_a, w_b, A_log, dt_bias
    if (c.linear == LinearKind::Mamba2) layer_linear += H * D + 3 * H;             // w_dt, A_log, dt_bias, D
  }

  ParamCounts p;
  p.shared = c.vocab_size * D + D + c.n_layers * layer_shared;  // embed, final_norm, layers
  if (!c.tie_embeddings) p.shared += c.vocab_size * D;         // lm_head
  p.attention_only = c.n_layers * layer_attention;
  p.linear_only = c.n_layers * layer_linear;
  p.total = p.shared + p.attention_only + p.linear_only;
  return p;
}

}  // namespace oryx
