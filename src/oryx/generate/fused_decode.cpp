#include "oryx/generate/fused_decode.h"

#ifdef ORYX_WITH_CUDA_KERNELS

#include <cmath>
#include <cstdlib>
#include <tuple>

#include "oryx/common/error.h"
#include "oryx/kernels/decode_attention_ops.h"
#include "oryx/kernels/decode_layer_ops.h"
#include "oryx/kernels/ops_common.h"
#include "oryx/layer/ops.h"
#include "oryx/mixers/attention/attention.h"
#include "oryx/mixers/dispatch.h"

namespace oryx {

namespace K = kernels;

namespace {

using Params = torch::OrderedDict<std::string, torch::Tensor>;

torch::Tensor param(const Params& ps, const std::string& name) {
  const auto* t = ps.find(name);
  ORYX_CHECK(t, "fused decode: the model has no parameter '", name, "'");
  return *t;
}

torch::Tensor optional_param(const Params& ps, const std::string& name) {
  const auto* t = ps.find(name);
  return t ? *t : torch::Tensor();
}

torch::Tensor f32(const torch::Tensor& t) { return t.defined() ? t.to(torch::kFloat32).contiguous() : t; }

DecodeGemvInput input_of(const torch::Tensor& x) {
  DecodeGemvInput in;
  in.x = x;
  return in;
}

// The product's input is RMSNorm(h + delta) with gain w.
DecodeGemvInput normed_sum(const torch::Tensor& h, const torch::Tensor& delta, const torch::Tensor& w, double eps) {
  DecodeGemvInput in;
  in.h = h;
  in.delta = delta;
  in.norm_w = w;
  in.eps = eps;
  return in;
}

bool contiguous_of(const torch::Tensor& t, torch::ScalarType dt) {
  return !t.defined() || (t.scalar_type() == dt && t.is_contiguous());
}

}  // namespace

std::string FusedDecode::unsupported(const OryxModelImpl& model, ModelCache& cache) {
  const char* env = std::getenv("ORYX_FUSED_DECODE");
  if (env && std::string(env) == "0") return "ORYX_FUSED_DECODE=0";
  if (reference_forced()) return "ORYX_FORCE_REFERENCE=1";
  const auto& c = model.config();
  if (!model.device().is_cuda()) return "not on a CUDA device";
  if (!K::is_hopper(model.head_weight())) return "not a Hopper GPU";
  for (const auto& p : model.parameters())
    if (p.scalar_type() != torch::kBFloat16) return "weights are not bf16";
  if (!K::decode_mixer_supported(static_cast<int>(c.head_dim_k), static_cast<int>(c.head_dim_v),
                                 static_cast<int>(c.conv_kernel)))
    return "head dims or conv width without a fused kernel";
  for (int64_t i = 0; i < c.n_layers; ++i) {
    const auto& l = cache.layer(i);
    for (auto [name, t, dt] : std::vector<std::tuple<const char*, torch::Tensor, torch::ScalarType>>{
             {"keys", l.k, torch::kBFloat16}, {"values", l.v, torch::kBFloat16},
             {"conv_k window", l.conv_k, torch::kBFloat16}, {"conv_v window", l.conv_v, torch::kBFloat16},
             {"conv_q window", l.conv_q, torch::kBFloat16}, {"state", l.state, torch::kFloat32}})
      if (!contiguous_of(t, dt))
        return std::string("the cache's ") + name + " are not contiguous " + (dt == torch::kFloat32 ? "fp32" : "bf16");
  }
  return "";
}

FusedDecode::FusedDecode(const OryxModelImpl& model) : c_(model.config()) {
  auto ps = model.named_parameters();
  embed_ = param(ps, "embed");
  final_norm_ = f32(param(ps, "final_norm"));
  head_ = model.head_weight();
  const bool attn = c_.has_attention(), lin = c_.has_linear();
  for (int64_t i = 0; i < c_.n_layers; ++i) {
    const std::string pre = "layers." + std::to_string(i) + ".";
    auto get = [&](const std::string& n) { return param(ps, pre + n); };
    Layer L;
    // The input projections, in the order the mixer kernel's offsets name them.
    std::vector<torch::Tensor> rows;
    int64_t n = 0;
    auto add = [&](const torch::Tensor& w) {
      rows.push_back(w);
      n += w.size(0);
      return static_cast<int>(n - w.size(0));
    };
    L.off_k = add(get("w_k"));
    L.off_v = add(get("w_v"));
    L.off_gate = add(get("w_g"));
    if (c_.share_q) {
      int q = add(get("w_q"));
      if (lin) L.off_q_lin = q;
      if (attn) L.off_q_attn = q;
    } else if (lin) {
      L.off_q_lin = add(get("lin.w_q"));
    }
    if (lin) {
      if (c_.linear == LinearKind::GatedDeltaNet) {
        L.off_gates = add(get("lin.w_a"));
        add(get("lin.w_b"));  // right after w_a: the kernel reads b at off_gates + H
      } else {
        L.off_gates = add(get("lin.w_dt"));
      }
    }
    // Zero rows up to a multiple of 64 after each part a mode reads: cuBLAS's kernels for
    // the batched products want aligned output rows (the gates leave 14 or 7 extra).
    auto pad = [&] {
      int64_t extra = (64 - n % 64) % 64;
      if (extra) add(torch::zeros({extra, rows[0].size(1)}, rows[0].options()));
    };
    pad();
    L.rows_l = n;
    if (attn && !c_.share_q) {
      L.off_q_attn = add(get("attn.w_q"));
      pad();
    }
    L.w_in = torch::cat(rows).contiguous();
    L.norm1 = f32(get("norm1"));
    L.norm2 = f32(get("norm2"));
    L.conv_k = get("conv_k").contiguous();
    L.conv_v = get("conv_v").contiguous();
    if (lin) {
      L.conv_q = get("lin.conv_q").contiguous();
      L.a_log = f32(get("lin.A_log"));
      L.dt_bias = f32(get("lin.dt_bias"));
      if (c_.linear == LinearKind::Mamba2) L.d_skip = f32(get("lin.D"));
    }
    if (attn && c_.qk_norm) {
      L.q_norm = f32(get("attn.q_norm"));
      L.k_norm = f32(get("attn.k_norm"));
    }
    auto shared_out = optional_param(ps, pre + "out_norm");
    L.out_norm_a = attn ? (c_.separate_out_norm ? get("attn.out_norm") : shared_out) : torch::Tensor();
    L.out_norm_a_f32 = f32(L.out_norm_a);
    L.out_norm_l_f32 = f32(lin ? (c_.separate_out_norm ? get("lin.out_norm") : shared_out) : torch::Tensor());
    L.w_o = get("w_o");
    // Gate and up rows interleaved (gate m, up m in rows 2m, 2m + 1): the SwiGLU of a pair is
    // one warp's in the fused product, and a neighbour's in decode_swiglu.
    auto gate = get("w_gate");
    L.w_gate_up = torch::stack({gate, get("w_up")}, 1).reshape({2 * gate.size(0), gate.size(1)}).contiguous();
    L.w_down = get("w_down");
    layers_.push_back(std::move(L));
  }
}

void FusedDecode::layer_step(const Layer& L, int64_t i, torch::Tensor& h, torch::Tensor& delta, bool mode_a,
                             bool gemv, ModelCache& cache) const {
  const int64_t B = h.size(0), H = c_.n_heads, Kd = c_.head_dim_k, Vd = c_.head_dim_v;
  const bool attn = c_.has_attention(), lin = c_.has_linear();
  ORYX_CHECK(mode_a ? attn : lin, "fused decode: model '", c_.name, "' has no mode ", mode_a ? "A" : "L");
  const auto& w_in = mode_a ? L.w_in : L.w_in.narrow(0, 0, L.rows_l);
  torch::Tensor sum1, proj;  // the stream after the previous layer, and x W_in^T
  if (gemv) {
    proj = kernels_decode_gemv(normed_sum(h, delta, L.norm1, c_.norm_eps), w_in, K::GemvOut::Bf16, &sum1);
  } else {
    auto n1 = kernels_decode_add_norm(h, delta, L.norm1, c_.norm_eps);
    sum1 = n1.sum;
    proj = torch::mm(n1.x, w_in.t());
  }
  auto& lc = cache.layer(i);

  K::DecodeMixerParams p;
  p.B = static_cast<int>(B);
  p.H = static_cast<int>(H);
  p.K = static_cast<int>(Kd);
  p.V = static_cast<int>(Vd);
  p.W = static_cast<int>(c_.conv_kernel);
  p.off_k = L.off_k;
  p.off_v = L.off_v;
  p.off_gate = L.off_gate;
  p.off_q_lin = L.off_q_lin;
  p.off_q_attn = mode_a ? L.off_q_attn : -1;
  p.off_gates = L.off_gates;
  p.kv_silu = c_.kv_conv_silu;
  p.k_l2 = c_.k_l2norm;
  // layer/ops.h's l2_normalize: an RMSNorm with eps / K and the gain 1 / sqrt(K).
  p.l2_eps = static_cast<float>(1e-6 / static_cast<double>(Kd));
  p.l2_gain = static_cast<float>(1.0 / std::sqrt(static_cast<double>(Kd)));
  p.rope = c_.rope;
  p.theta = static_cast<float>(c_.rope_theta);
  p.norm_eps = static_cast<float>(c_.norm_eps);
  const bool gdn = c_.linear == LinearKind::GatedDeltaNet;
  p.linear = !lin ? K::DecodeLinear::None : gdn ? K::DecodeLinear::Gdn : K::DecodeLinear::Ssd;
  p.q_lin_silu = gdn;  // the GDN query's conv has a SiLU and an L2 norm, Mamba-2's neither
  p.q_lin_l2 = gdn;
  p.scale = gdn ? static_cast<float>(1.0 / std::sqrt(static_cast<double>(Kd))) : 1.f;

  DecodeMixerTensors t;
  t.proj = proj;
  t.conv_k_w = L.conv_k;
  t.conv_v_w = L.conv_v;
  t.conv_q_w = L.conv_q;
  t.conv_k = lc.conv_k;
  t.conv_v = lc.conv_v;
  t.conv_q = lc.conv_q;
  t.q_norm = L.q_norm;
  t.k_norm = L.k_norm;
  t.lengths = cache.lengths();
  t.k_cache = lc.k;
  t.v_cache = lc.v;
  t.a_log = L.a_log;
  t.dt_bias = L.dt_bias;
  t.d_skip = L.d_skip;
  t.state = lin ? lc.state : torch::Tensor();
  auto bf16 = proj.options();
  if (mode_a) {
    t.q_attn = torch::empty({B, H, Kd}, bf16);
    t.key_counts = torch::empty({B}, bf16.dtype(torch::kLong));
    t.gate_out = torch::empty({B, H, Vd}, bf16);
  } else {
    t.out_norm = L.out_norm_l_f32;
    t.y = torch::empty({B, H, Vd}, bf16);
  }
  kernels_decode_mixer(p, t);

  torch::Tensor y = t.y;
  if (mode_a) {
    const double scale = 1.0 / std::sqrt(static_cast<double>(Kd));
    if (kernels_decode_attention_supported(t.q_attn, lc.k, lc.v) && Kd == Vd) {
      // Flash-decoding with the GatedRMSNorm in its combine kernel.
      y = kernels_decode_attention(t.q_attn, lc.k, lc.v, scale, t.key_counts, t.gate_out, L.out_norm_a_f32,
                                   c_.norm_eps);
    } else {
      y = gated_rms_norm(attention_step(t.q_attn, lc.k, lc.v, scale, t.key_counts), t.gate_out, L.out_norm_a,
                         c_.norm_eps);
    }
  }
  auto y_rows = y.view({B, H * Vd});
  if (gemv) {
    auto o = kernels_decode_gemv(input_of(y_rows), L.w_o, K::GemvOut::Bf16);
    auto m = kernels_decode_gemv(normed_sum(sum1, o, L.norm2, c_.norm_eps), L.w_gate_up, K::GemvOut::SwigluPairs, &h);
    delta = kernels_decode_gemv(input_of(m), L.w_down, K::GemvOut::Bf16);
  } else {
    auto n2 = kernels_decode_add_norm(sum1, torch::mm(y_rows, L.w_o.t()), L.norm2, c_.norm_eps);
    delta = torch::mm(kernels_decode_swiglu(torch::mm(n2.x, L.w_gate_up.t())), L.w_down.t());
    h = n2.sum;
  }
}

torch::Tensor FusedDecode::step(const torch::Tensor& tokens, bool mode_a, ModelCache& cache) const {
  ORYX_CHECK(tokens.dim() == 2 && tokens.size(1) == 1 && tokens.size(0) == cache.batch(),
             "fused decode: tokens must be [", cache.batch(), ",1]");
  auto h = embed_.index_select(0, tokens.reshape({-1}));
  const int64_t B = h.size(0);
  // Up to four sequences: the products are our matrix-vector kernels with the norms and SwiGLU
  // folded in; more: cuBLAS, and the norms and SwiGLU as kernels of their own.
  bool gemv = true;
  for (int64_t D : {c_.d_model, c_.v_dim(), c_.mlp_hidden}) gemv = gemv && kernels_decode_gemv_supported(B, D);
  torch::Tensor delta;
  for (size_t i = 0; i < layers_.size(); ++i)
    layer_step(layers_[i], static_cast<int64_t>(i), h, delta, mode_a, gemv, cache);
  if (gemv) {
    torch::Tensor sum;
    return kernels_decode_gemv(normed_sum(h, delta, final_norm_, c_.norm_eps), head_, K::GemvOut::LogitsF32, &sum);
  }
  auto x = kernels_decode_add_norm(h, delta, final_norm_, c_.norm_eps).x;
  return torch::nn::functional::linear(x, head_).to(torch::kFloat32);
}

}  // namespace oryx

#endif  // ORYX_WITH_CUDA_KERNELS
