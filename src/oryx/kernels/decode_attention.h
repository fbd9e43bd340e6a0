// Launchers of the flash-decoding kernels (decode_attention.cu; the tensor API is
// kernels/decode_attention_ops.h): one query per sequence and head against the KV cache,
//   o[b,h] = softmax(scale q[b,h] K[b,:n_b,h]^T) V[b,:n_b,h]
// with n_b read on the device (so a CUDA graph replays it at any length). The keys are split
// into chunks of kSplitKeys, one block per (sequence, head, chunk) computing the chunk's
// max, sum of exponentials and unnormalised output; a second kernel combines the chunks.
// Chunks past n_b exit at once. Both kernels are launched as programmatic dependents
// (device_common.cuh), waiting before their first read. K and V are read in place from the cache ([B, capacity, H, D]
// bf16, rows contiguous, any batch stride); q bf16 [B,H,D]; sums and softmax in fp32.
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>

#include "oryx/kernels/linear_params.h"

namespace oryx::kernels {

constexpr int kSplitKeys = 256;

struct DecodeAttentionParams {
  int B = 0, H = 0, D = 0, splits = 0;
  int64_t batch_stride = 0;          // elements between sequences in k and v
  float scale = 1.f;
  const bf16_bits* q = nullptr;      // [B,H,D]
  const bf16_bits* k = nullptr;      // [B, >= n_b, H, D]
  const bf16_bits* v = nullptr;
  const int64_t* key_counts = nullptr;  // [B] n_b, each in [1, splits * kSplitKeys]
  float* partial = nullptr;          // [B,H,splits,D+2] workspace: o (D), max, sum
  bf16_bits* o = nullptr;            // [B,H,D]
  // Optional: the layer's GatedRMSNorm folded into the combine (o rounded to bf16 first, as
  // the separate kernel reads it): o = bf16(o rsqrt(mean(o^2) + eps) gain silu(gate)).
  const bf16_bits* gate = nullptr;   // [B,H,D]
  const float* gain = nullptr;       // [D]
  float eps = 0.f;
};

// Head dims with a compiled kernel (64 and 128).
bool decode_attention_dim_supported(int D);

void decode_attention(const DecodeAttentionParams& p, cudaStream_t stream);

}  // namespace oryx::kernels
