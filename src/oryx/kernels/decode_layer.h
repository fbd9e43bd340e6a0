// Launchers of the fused decoding kernels (decode_layer.cu; the tensor API is
// kernels/decode_layer_ops.h, the model-level path generate/fused_decode.h). One token per
// sequence, bf16 activations and caches, fp32 recurrent state. Each kernel does in one launch
// what the step path (Model::decode_step) does in several, with the same roundings to bf16
// at the same points, so the two agree to fp32 summation order:
//   decode_add_norm  sum = bf16(h + delta), x = bf16(RMSNorm(sum) w)          [B,D] rows
//   decode_mixer     one (sequence, head) per block: the short-convolution steps of k, v and
//                    q_L (windows shifted in place) with their SiLU, the L2 norms, the gates,
//                    QK-norm + RoPE of the key (appended to the KV cache with the value) and,
//                    in mode A, of the query; the recurrent state's update (every token, any
//                    mode) and, in mode L, its output, Mamba-2's D skip and the GatedRMSNorm
//   decode_pick      the greedy pick of each sequence's logits (the first largest among ids
//                    below a vocabulary limit, as torch's argmax) and the count of non-finite
//                    logits over the whole row
//   decode_swiglu    silu(gate) * up of the MLP's packed [B, 2M] product (gate and up rows
//                    interleaved: gate m and up m at columns 2m and 2m + 1)
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>

#include "oryx/kernels/linear_params.h"

namespace oryx::kernels {

struct DecodeAddNormParams {
  int B = 0, D = 0;
  float eps = 0.f;
  const bf16_bits* h = nullptr;      // [B,D]
  const bf16_bits* delta = nullptr;  // [B,D] or nullptr (nothing to add)
  const float* w = nullptr;          // [D]
  bf16_bits* sum = nullptr;          // [B,D] h + delta (unwritten without delta)
  bf16_bits* x = nullptr;            // [B,D] the normed sum
};

enum class DecodeLinear : int { None = 0, Gdn = 1, Ssd = 2 };

// Column offsets into a row of the packed input projection [B, N] (x times the concatenated
// weights), -1 where the model has no such block. Each block holds H heads' K (or V) values.
struct DecodeMixerParams {
  int B = 0, H = 0, K = 0, V = 0, W = 0;  // W: the short convolutions' width (2 to 4)
  const bf16_bits* proj = nullptr;
  int64_t proj_stride = 0;  // elements between sequences' rows
  int off_k = -1, off_v = -1, off_gate = -1, off_q_lin = -1, off_q_attn = -1, off_gates = -1;

  // Short convolutions: weights [C,W] bf16, windows [B,W-1,C] bf16 (the cache's, shifted in place).
  const bf16_bits *conv_k_w = nullptr, *conv_v_w = nullptr, *conv_q_w = nullptr;
  bf16_bits *conv_k = nullptr, *conv_v = nullptr, *conv_q = nullptr;
  bool kv_silu = false, k_l2 = false;  // SiLU after the k/v convolutions; L2-normalise k
  // The L2 norm as layer/ops.h's l2_normalize computes it, an RMSNorm: eps / K and gain 1/sqrt(K).
  float l2_eps = 0.f, l2_gain = 1.f;

  // Attention (off_q_attn < 0 and k_cache null for a model without it).
  const float *q_norm = nullptr, *k_norm = nullptr;  // [K] QK-norm gains, nullptr without QK-norm
  bool rope = false;
  float theta = 10000.f, norm_eps = 1e-6f;
  const int64_t* lengths = nullptr;  // [B] tokens each sequence holds: the new token's position
  int64_t capacity = 0;              // cache slots; a retired sequence at capacity rewrites the last
  bf16_bits *k_cache = nullptr, *v_cache = nullptr;  // [B,capacity,H,K] / [B,capacity,H,V]
  bf16_bits* q_attn = nullptr;       // [B,H,K] the rotated query (mode A), nullptr in mode L
  int64_t* key_counts = nullptr;     // [B] keys each query sees (mode A)
  bf16_bits* gate_out = nullptr;     // [B,H,V] the output gate, copied for the GatedRMSNorm (mode A)

  // The linear mixer (DecodeLinear::None for a transformer).
  DecodeLinear linear = DecodeLinear::None;
  bool q_lin_silu = false, q_lin_l2 = false;
  const float *a_log = nullptr, *dt_bias = nullptr, *d_skip = nullptr;  // [H]; d_skip Mamba-2's D
  float* state = nullptr;  // [B,H,K,V] fp32, updated in place
  float scale = 1.f;

  // Mode L's output: GatedRMSNorm(o, gate) with gain out_norm [V], into y [B,H,V]; nullptr in mode A.
  const float* out_norm = nullptr;
  bf16_bits* y = nullptr;
};

struct DecodeSwigluParams {
  int B = 0, M = 0;
  const bf16_bits* gate_up = nullptr;  // [B, 2M]: gate m at column 2m, up m at 2m + 1
  bf16_bits* y = nullptr;              // [B, M]
};

struct DecodePickParams {
  int B = 0, V = 0, limit = 0;  // ids >= limit are never picked (limit = V: none)
  const float* logits = nullptr;  // [B, V]
  int64_t* out = nullptr;         // [2B]: the picks, then each row's count of non-finite logits
};

// Head dims with a compiled mixer kernel: K and V each 64 or 128; conv widths 2 to 4.
bool decode_mixer_supported(int K, int V, int W);

void decode_add_norm(const DecodeAddNormParams& p, cudaStream_t stream);
void decode_mixer(const DecodeMixerParams& p, cudaStream_t stream);
void decode_swiglu(const DecodeSwigluParams& p, cudaStream_t stream);
void decode_pick(const DecodePickParams& p, cudaStream_t stream);

}  // namespace oryx::kernels
