// One block per (key row, keys or values): its threads walk the row's columns eight bf16 at a
// time and add the row from each entry of the sequence that reaches it. Reads every source
// row once and writes every destination row once; no atomics, so the sum is deterministic
// (fla's and flash-attention's varlen backward have no such step: their entries never share
// keys).
#include <cuda_bf16.h>

#include "oryx/kernels/entry_key_sum.h"
#include "oryx/kernels/device_common.cuh"

namespace oryx::kernels {

namespace {

constexpr int kThreads = 128;
constexpr int kVec = 8;

__global__ void __launch_bounds__(kThreads) entry_key_sum_kernel(EntryKeySumParams p) {
  const int row = blockIdx.x;  // b*T + t
  const int b = row / p.T, t = row % p.T;
  const bf16_bits* src = blockIdx.y == 0 ? p.src_k : p.src_v;
  bf16_bits* dst = blockIdx.y == 0 ? p.dst_k : p.dst_v;
  const int first = p.seq_entries[b], last = p.seq_entries[b + 1];
  const int packs = p.C / kVec;
  for (int c = threadIdx.x; c < packs; c += kThreads) {
    float acc[kVec] = {};
    for (int i = first; i < last; ++i) {
      const int k0 = p.cu_k[i];
      if (t >= p.cu_k[i + 1] - k0) continue;
      Bf16x8 in = reinterpret_cast<const Bf16x8*>(src + static_cast<size_t>(k0 + t) * p.C)[c];
#pragma unroll
      for (int j = 0; j < kVec; ++j) acc[j] += __bfloat162float(in.v[j]);
    }
    Bf16x8 out;
#pragma unroll
    for (int j = 0; j < kVec; ++j) out.v[j] = __float2bfloat16(acc[j]);
    reinterpret_cast<Bf16x8*>(dst + static_cast<size_t>(row) * p.C)[c] = out;
  }
}

}  // namespace

void entry_key_sum(const EntryKeySumParams& p, cudaStream_t stream) {
  if (p.B == 0 || p.T == 0) return;
  entry_key_sum_kernel<<<dim3(p.B * p.T, 2), kThreads, 0, stream>>>(p);
}

}  // namespace oryx::kernels
