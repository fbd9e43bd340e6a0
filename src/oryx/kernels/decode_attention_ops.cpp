#include "oryx/kernels/decode_attention_ops.h"

#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>

#include "oryx/kernels/decode_attention.h"
#include "oryx/kernels/ops_common.h"

namespace oryx {

namespace K = kernels;

bool kernels_decode_attention_supported(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v) {
  if (!q.is_cuda() || q.scalar_type() != torch::kBFloat16 || k.scalar_type() != torch::kBFloat16 ||
      v.scalar_type() != torch::kBFloat16)
    return false;
  if (q.dim() != 3 || k.dim() != 4 || v.sizes() != k.sizes() || k.size(3) != q.size(2) || k.size(2) != q.size(1))
    return false;
  if (!K::decode_attention_dim_supported(static_cast<int>(q.size(2))) || k.size(1) == 0) return false;
  // Rows [L,H,D] contiguous within each sequence; the same layout for k and v.
  auto rows_contiguous = [](const torch::Tensor& t) {
    return t.stride(3) == 1 && t.stride(2) == t.size(3) && t.stride(1) == t.size(2) * t.size(3);
  };
  if (!rows_contiguous(k) || !rows_contiguous(v) || k.stride(0) != v.stride(0)) return false;
  auto aligned = [](const torch::Tensor& t) { return reinterpret_cast<uintptr_t>(t.data_ptr()) % 16 == 0; };
  if (!aligned(k) || !aligned(v)) return false;  // 16-byte row loads
  return K::is_hopper(q);
}

torch::Tensor kernels_decode_attention(const torch::Tensor& q_in, const torch::Tensor& k, const torch::Tensor& v,
                                       double scale, const torch::Tensor& key_counts_in, const torch::Tensor& gate_in,
                                       const torch::Tensor& gain_in, double eps) {
  c10::cuda::CUDAGuard guard(q_in.device());
  auto q = q_in.contiguous();
  int64_t B = q.size(0), H = q.size(1), D = q.size(2), L = k.size(1);
  auto key_counts = key_counts_in.defined()
                        ? key_counts_in.to(torch::kLong).contiguous()
                        : torch::full({B}, L, q.options().dtype(torch::kLong));
  K::DecodeAttentionParams p;
  p.B = static_cast<int>(B);
  p.H = static_cast<int>(H);
  p.D = static_cast<int>(D);
  p.splits = static_cast<int>((L + K::kSplitKeys - 1) / K::kSplitKeys);
  p.batch_stride = k.stride(0);
  p.scale = static_cast<float>(scale);
  auto partial = torch::empty({B, H, p.splits, D + 2}, q.options().dtype(torch::kFloat32));
  auto o = torch::empty_like(q);
  p.q = K::bf16_ptr(q);
  p.k = K::bf16_ptr(k);
  p.v = K::bf16_ptr(v);
  p.key_counts = key_counts.data_ptr<int64_t>();
  p.partial = K::f32_mut_ptr(partial);
  p.o = K::bf16_mut_ptr(o);
  torch::Tensor gate, gain;
  if (gate_in.defined()) {
    ORYX_CHECK(gate_in.sizes() == q.sizes() && gate_in.scalar_type() == torch::kBFloat16,
               "decode attention: gate must be bf16 like q ", q.sizes());
    ORYX_CHECK(gain_in.defined() && gain_in.numel() == D, "decode attention: the gated norm needs a gain of ", D);
    gate = gate_in.contiguous();
    gain = gain_in.detach().to(torch::kFloat32).contiguous();
    p.gate = K::bf16_ptr(gate);
    p.gain = K::f32_ptr(gain);
    p.eps = static_cast<float>(eps);
  }
  K::decode_attention(p, at::cuda::getCurrentCUDAStream());
  K::check_launch("decode_attention");
  return o;
}

}  // namespace oryx
