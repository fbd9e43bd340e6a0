// Torch-facing glue of the fused decoding kernels (kernels/decode_layer.h): checks, pointers
// and outputs. Used by the fused decoding step (generate/fused_decode.h), which packs the
// weights these calls read.
#pragma once
#include <torch/types.h>

#include "oryx/kernels/decode_gemv.h"
#include "oryx/kernels/decode_layer.h"

namespace oryx {

// sum = bf16(h + delta) (h itself without delta) and x = bf16(RMSNorm(sum) w): h, delta
// [B,D] bf16 contiguous, w [D] fp32.
struct DecodeNormed {
  torch::Tensor sum, x;
};
DecodeNormed kernels_decode_add_norm(const torch::Tensor& h, const torch::Tensor& delta, const torch::Tensor& w,
                                     double eps);

// silu(gate) * up of gate_up [B, 2M] bf16 (gate m at column 2m, up m at 2m + 1): [B, M] bf16.
torch::Tensor kernels_decode_swiglu(const torch::Tensor& gate_up);

// y = x W^T for a few sequences (kernels/decode_gemv.h), W [N, D] bf16 contiguous. The input
// is x [B, D] bf16, or (norm_w defined) the residual add and RMSNorm of h and delta (delta
// may be undefined), in which case `sum` receives h + delta (h itself without delta). Output
// per `out`: [B, N] bf16, [B, N/2] bf16 (SwiGLU of interleaved gate/up rows) or [B, N] fp32.
struct DecodeGemvInput {
  torch::Tensor x;
  torch::Tensor h, delta, norm_w;
  double eps = 0;
};
bool kernels_decode_gemv_supported(int64_t B, int64_t D);
torch::Tensor kernels_decode_gemv(const DecodeGemvInput& in, const torch::Tensor& w, kernels::GemvOut out,
                                  torch::Tensor* sum = nullptr);

// The greedy pick of each row of logits [B, V] fp32 (ids below `limit`, the first largest)
// and each row's count of non-finite logits: out [2B] int64 on the logits' device.
void kernels_decode_pick(const torch::Tensor& logits, int64_t limit, torch::Tensor& out);

// One layer's mixer step: `p` holds the sizes, offsets and flags; the tensors below fill its
// pointers (undefined where the model has no such part). Writes the conv windows, the KV
// cache at each sequence's slot and the state in place; mode A (q_attn defined) fills q_attn,
// key_counts and gate_out, mode L fills y.
struct DecodeMixerTensors {
  torch::Tensor proj;                          // [B, N] bf16, rows contiguous
  torch::Tensor conv_k_w, conv_v_w, conv_q_w;  // [C, W] bf16
  torch::Tensor conv_k, conv_v, conv_q;        // [B, W-1, C] bf16 windows
  torch::Tensor q_norm, k_norm;                // [K] fp32
  torch::Tensor lengths;                       // [B] int64
  torch::Tensor k_cache, v_cache;              // [B, capacity, H, K|V] bf16
  torch::Tensor q_attn, key_counts, gate_out;  // mode A outputs
  torch::Tensor a_log, dt_bias, d_skip;        // [H] fp32
  torch::Tensor state;                         // [B,H,K,V] fp32
  torch::Tensor out_norm;                      // [V] fp32 (mode L)
  torch::Tensor y;                             // [B,H,V] bf16 (mode L)
};
void kernels_decode_mixer(kernels::DecodeMixerParams p, DecodeMixerTensors& t);

}  // namespace oryx
