#include "oryx/kernels/decode_layer_ops.h"

#include <ATen/cuda/CUDAContext.h>
#include <algorithm>
#include <c10/cuda/CUDAGuard.h>

#include "oryx/kernels/ops_common.h"

namespace oryx {

namespace K = kernels;

namespace {

void check_bf16(const torch::Tensor& t, const char* what) {
  ORYX_CHECK(t.is_cuda() && t.scalar_type() == torch::kBFloat16 && t.is_contiguous(), "fused decode: ", what,
             " must be a contiguous bf16 CUDA tensor");
}

void check_f32(const torch::Tensor& t, const char* what) {
  if (!t.defined()) return;
  ORYX_CHECK(t.is_cuda() && t.scalar_type() == torch::kFloat32 && t.is_contiguous(), "fused decode: ", what,
             " must be a contiguous fp32 CUDA tensor");
}

const K::bf16_bits* opt_bf16(const torch::Tensor& t, const char* what) {
  if (!t.defined()) return nullptr;
  check_bf16(t, what);
  return K::bf16_ptr(t);
}

K::bf16_bits* opt_bf16_mut(torch::Tensor& t, const char* what) {
  if (!t.defined()) return nullptr;
  check_bf16(t, what);
  return K::bf16_mut_ptr(t);
}

const float* opt_f32(const torch::Tensor& t, const char* what) {
  check_f32(t, what);
  return K::f32_ptr(t);
}

}  // namespace

DecodeNormed kernels_decode_add_norm(const torch::Tensor& h, const torch::Tensor& delta, const torch::Tensor& w,
                                     double eps) {
  check_bf16(h, "the residual stream");
  ORYX_CHECK(h.dim() == 2 && w.dim() == 1 && w.size(0) == h.size(1), "fused decode: add_norm shapes");
  if (delta.defined()) {
    check_bf16(delta, "the residual delta");
    ORYX_CHECK(delta.sizes() == h.sizes(), "fused decode: delta and h differ in shape");
  }
  c10::cuda::CUDAGuard guard(h.device());
  DecodeNormed out{delta.defined() ? torch::empty_like(h) : h, torch::empty_like(h)};
  K::DecodeAddNormParams p;
  p.B = static_cast<int>(h.size(0));
  p.D = static_cast<int>(h.size(1));
  p.eps = static_cast<float>(eps);
  p.h = K::bf16_ptr(h);
  p.delta = opt_bf16(delta, "delta");
  p.w = opt_f32(w, "the norm's gain");
  p.sum = delta.defined() ? K::bf16_mut_ptr(out.sum) : nullptr;
  p.x = K::bf16_mut_ptr(out.x);
  K::decode_add_norm(p, at::cuda::getCurrentCUDAStream());
  K::check_launch("decode add_norm");
  return out;
}

torch::Tensor kernels_decode_swiglu(const torch::Tensor& gate_up) {
  check_bf16(gate_up, "the MLP's gate|up product");
  ORYX_CHECK(gate_up.dim() == 2 && gate_up.size(1) % 2 == 0, "fused decode: gate_up must be [B, 2M]");
  c10::cuda::CUDAGuard guard(gate_up.device());
  auto y = torch::empty({gate_up.size(0), gate_up.size(1) / 2}, gate_up.options());
  K::DecodeSwigluParams p;
  p.B = static_cast<int>(gate_up.size(0));
  p.M = static_cast<int>(gate_up.size(1) / 2);
  p.gate_up = K::bf16_ptr(gate_up);
  p.y = K::bf16_mut_ptr(y);
  K::decode_swiglu(p, at::cuda::getCurrentCUDAStream());
  K::check_launch("decode swiglu");
  return y;
}

bool kernels_decode_gemv_supported(int64_t B, int64_t D) {
  return K::decode_gemv_supported(static_cast<int>(B), static_cast<int>(D));
}

torch::Tensor kernels_decode_gemv(const DecodeGemvInput& in, const torch::Tensor& w, K::GemvOut out,
                                  torch::Tensor* sum) {
  check_bf16(w, "the product's weight");
  const bool normed = in.norm_w.defined();
  const auto& src = normed ? in.h : in.x;
  check_bf16(src, normed ? "the residual stream" : "the product's input");
  ORYX_CHECK(src.dim() == 2 && w.dim() == 2 && src.size(1) == w.size(1), "fused decode: gemv shapes [B,D] x [N,D]^T");
  const int64_t B = src.size(0), D = src.size(1), N = w.size(0);
  ORYX_CHECK(K::decode_gemv_supported(static_cast<int>(B), static_cast<int>(D)), "fused decode: no gemv kernel for B ",
             B, ", D ", D);
  ORYX_CHECK(out != K::GemvOut::SwigluPairs || N % 2 == 0, "fused decode: SwiGLU pairs need an even row count");
  c10::cuda::CUDAGuard guard(src.device());
  K::DecodeGemvParams p;
  p.B = static_cast<int>(B);
  p.N = static_cast<int>(N);
  p.D = static_cast<int>(D);
  p.w = K::bf16_ptr(w);
  if (normed) {
    ORYX_CHECK(sum, "fused decode: a normed gemv needs somewhere to put h + delta");
    p.h = K::bf16_ptr(in.h);
    if (in.delta.defined()) {
      check_bf16(in.delta, "the residual delta");
      ORYX_CHECK(in.delta.sizes() == in.h.sizes(), "fused decode: delta and h differ in shape");
      p.delta = K::bf16_ptr(in.delta);
      *sum = torch::empty_like(in.h);
      p.sum = K::bf16_mut_ptr(*sum);
    } else {
      *sum = in.h;
    }
    ORYX_CHECK(in.norm_w.numel() == D, "fused decode: norm gain of ", in.norm_w.numel(), " for D ", D);
    p.norm_w = opt_f32(in.norm_w, "the norm's gain");
    p.eps = static_cast<float>(in.eps);
  } else {
    p.x = K::bf16_ptr(in.x);
  }
  p.out = out;
  auto y = out == K::GemvOut::LogitsF32 ? torch::empty({B, N}, src.options().dtype(torch::kFloat32))
           : out == K::GemvOut::SwigluPairs ? torch::empty({B, N / 2}, src.options())
                                            : torch::empty({B, N}, src.options());
  p.y = y.data_ptr();
  K::decode_gemv(p, at::cuda::getCurrentCUDAStream());
  K::check_launch("decode gemv");
  return y;
}

void kernels_decode_pick(const torch::Tensor& logits, int64_t limit, torch::Tensor& out) {
  ORYX_CHECK(logits.is_cuda() && logits.scalar_type() == torch::kFloat32 && logits.dim() == 2 && logits.is_contiguous(),
             "decode pick: logits must be contiguous [B,V] fp32 on CUDA");
  const int64_t B = logits.size(0), V = logits.size(1);
  ORYX_CHECK(out.is_cuda() && out.scalar_type() == torch::kLong && out.is_contiguous() && out.numel() == 2 * B,
             "decode pick: out must be [2B] int64 on CUDA");
  ORYX_CHECK(limit >= 1 && V >= 1, "decode pick: empty vocabulary");
  c10::cuda::CUDAGuard guard(logits.device());
  K::DecodePickParams p;
  p.B = static_cast<int>(B);
  p.V = static_cast<int>(V);
  p.limit = static_cast<int>(std::min(limit, V));
  p.logits = logits.data_ptr<float>();
  p.out = out.data_ptr<int64_t>();
  K::decode_pick(p, at::cuda::getCurrentCUDAStream());
  K::check_launch("decode pick");
}

void kernels_decode_mixer(K::DecodeMixerParams p, DecodeMixerTensors& t) {
  ORYX_CHECK(K::decode_mixer_supported(p.K, p.V, p.W), "fused decode: head dims ", p.K, "x", p.V, " or conv width ",
             p.W, " not compiled");
  ORYX_CHECK(t.proj.dim() == 2 && t.proj.stride(1) == 1 && t.proj.size(0) == p.B, "fused decode: proj must be [B,N]");
  ORYX_CHECK(t.proj.scalar_type() == torch::kBFloat16, "fused decode: proj must be bf16");
  ORYX_CHECK(t.lengths.scalar_type() == torch::kLong && t.lengths.numel() == p.B, "fused decode: lengths must be [B] int64");
  c10::cuda::CUDAGuard guard(t.proj.device());
  p.proj = K::bf16_ptr(t.proj);
  p.proj_stride = t.proj.stride(0);
  p.conv_k_w = opt_bf16(t.conv_k_w, "conv_k");
  p.conv_v_w = opt_bf16(t.conv_v_w, "conv_v");
  p.conv_q_w = opt_bf16(t.conv_q_w, "conv_q");
  p.conv_k = opt_bf16_mut(t.conv_k, "the conv_k window");
  p.conv_v = opt_bf16_mut(t.conv_v, "the conv_v window");
  p.conv_q = opt_bf16_mut(t.conv_q, "the conv_q window");
  p.q_norm = opt_f32(t.q_norm, "q_norm");
  p.k_norm = opt_f32(t.k_norm, "k_norm");
  p.lengths = t.lengths.data_ptr<int64_t>();
  p.k_cache = opt_bf16_mut(t.k_cache, "the key cache");
  p.v_cache = opt_bf16_mut(t.v_cache, "the value cache");
  if (t.k_cache.defined()) p.capacity = t.k_cache.size(1);
  p.q_attn = opt_bf16_mut(t.q_attn, "the query output");
  p.key_counts = t.key_counts.defined() ? t.key_counts.data_ptr<int64_t>() : nullptr;
  p.gate_out = opt_bf16_mut(t.gate_out, "the gate output");
  p.a_log = opt_f32(t.a_log, "A_log");
  p.dt_bias = opt_f32(t.dt_bias, "dt_bias");
  p.d_skip = opt_f32(t.d_skip, "D");
  check_f32(t.state, "the recurrent state");
  p.state = K::f32_mut_ptr(t.state);
  p.out_norm = opt_f32(t.out_norm, "out_norm");
  p.y = opt_bf16_mut(t.y, "the mixer output");
  ORYX_CHECK(p.conv_k && p.conv_v && p.conv_k_w && p.conv_v_w, "fused decode: the k/v convolutions are required");
  ORYX_CHECK((p.linear == K::DecodeLinear::None) == (p.state == nullptr), "fused decode: state and mixer kind disagree");
  ORYX_CHECK(p.linear == K::DecodeLinear::None || (p.conv_q && p.conv_q_w && p.a_log && p.dt_bias),
             "fused decode: the linear mixer's tensors are missing");
  ORYX_CHECK(!p.q_attn || (p.k_cache && p.key_counts && p.gate_out), "fused decode: mode A needs the cache and outputs");
  ORYX_CHECK(p.y == nullptr || p.out_norm, "fused decode: mode L needs out_norm");
  K::decode_mixer(p, at::cuda::getCurrentCUDAStream());
  K::check_launch("decode mixer");
}

}  // namespace oryx
