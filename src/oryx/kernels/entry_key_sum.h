// Launcher of the key-gradient sum of chunk-sparse attention (entry_key_sum.cu; the tensor
// API is kernels/entry_key_sum_ops.h). The attention's entries list each sequence's keys
// 0..e-1 once per entry (layer/attention_runs.h); the gradient of key row t of sequence b is
// the sum over b's entries with e > t of that entry's row t:
//   dst[b*T + t, :] = sum_{i in seq_entries[b] .. seq_entries[b+1]-1, t < len_i} src[cu_k[i] + t, :]
// for keys and values alike (zero where no entry reaches). bf16 rows of C values, C a
// multiple of 8, 16-byte aligned; sums in fp32.
#pragma once
#include <cuda_runtime_api.h>

#include "oryx/kernels/linear_params.h"

namespace oryx::kernels {

struct EntryKeySumParams {
  int B = 0, T = 0, C = 0;
  const int* cu_k = nullptr;         // [R+1]
  const int* seq_entries = nullptr;  // [B+1]
  const bf16_bits* src_k = nullptr;  // [Nk, C] per-entry key gradients
  const bf16_bits* src_v = nullptr;  // [Nk, C] per-entry value gradients
  bf16_bits* dst_k = nullptr;        // [B*T, C]
  bf16_bits* dst_v = nullptr;        // [B*T, C]
};

void entry_key_sum(const EntryKeySumParams& p, cudaStream_t stream);

}  // namespace oryx::kernels
