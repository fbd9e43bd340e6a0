// Flash-decoding: the chunk kernel scores its keys one key per thread (each thread reads a
// whole key row, 16-byte loads), reduces max and sum across the block, then accumulates the
// output with groups of lanes on different keys, each lane 8 values of a row. The combine
// kernel rescales each chunk by exp(max_c - max), divides by the total sum and, when asked,
// applies the layer's GatedRMSNorm.
#include <cuda_bf16.h>

#include <cfloat>

#include "oryx/kernels/decode_attention.h"
#include "oryx/kernels/device_common.cuh"

namespace oryx::kernels {

namespace {

constexpr int kThreads = 128;

__device__ __forceinline__ float block_reduce(float x, float* scratch, bool is_max) {
  for (int off = 16; off > 0; off >>= 1) {
    float y = __shfl_xor_sync(0xffffffff, x, off);
    x = is_max ? fmaxf(x, y) : x + y;
  }
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  __syncthreads();  // scratch may still be read by the previous reduction
  if (lane == 0) scratch[warp] = x;
  __syncthreads();
  float r = scratch[0];
  for (int w = 1; w < kThreads / 32; ++w) r = is_max ? fmaxf(r, scratch[w]) : r + scratch[w];
  return r;
}

template <int D>
__global__ void __launch_bounds__(kThreads) decode_chunk_kernel(DecodeAttentionParams p) {
  wait_for_predecessor();  // the query, the new key and the key counts come from the kernel before
  const int b = blockIdx.x, h = blockIdx.y, c = blockIdx.z;
  const int n = static_cast<int>(p.key_counts[b]);
  const int start = c * kSplitKeys, end = min(n, start + kSplitKeys);
  float* part = p.partial + ((static_cast<int64_t>(b) * p.H + h) * p.splits + c) * (D + 2);
  if (start >= end) {
    if (threadIdx.x == 0) {
      part[D] = -FLT_MAX;
      part[D + 1] = 0.f;
    }
    return;
  }
  __shared__ float q[D];
  __shared__ float prob[kSplitKeys];
  __shared__ float scratch[kThreads / 32];
  for (int d = threadIdx.x; d < D; d += kThreads)
    q[d] = __bfloat162float(reinterpret_cast<const __nv_bfloat16*>(p.q)[(static_cast<int64_t>(b) * p.H + h) * D + d]);
  __syncthreads();
  const int64_t row = static_cast<int64_t>(p.H) * D;
  const bf16_bits* kb = p.k + b * p.batch_stride + static_cast<int64_t>(h) * D;
  const bf16_bits* vb = p.v + b * p.batch_stride + static_cast<int64_t>(h) * D;
  float local_max = -FLT_MAX;
  for (int j = start + threadIdx.x; j < end; j += kThreads) {
    const Bf16x8* kr = reinterpret_cast<const Bf16x8*>(kb + j * row);
    float s = 0.f;
#pragma unroll
    for (int i = 0; i < D / 8; ++i) {
      Bf16x8 k8 = kr[i];
#pragma unroll
      for (int e = 0; e < 8; ++e) s = fmaf(q[i * 8 + e], __bfloat162float(k8.v[e]), s);
    }
    s *= p.scale;
    prob[j - start] = s;
    local_max = fmaxf(local_max, s);
  }
  const float m = block_reduce(local_max, scratch, true);
  float local_sum = 0.f;
  for (int j = start + threadIdx.x; j < end; j += kThreads) {
    float e = __expf(prob[j - start] - m);
    prob[j - start] = e;
    local_sum += e;
  }
  const float l = block_reduce(local_sum, scratch, false);  // its __syncthreads also publishes prob
  // P V: groups of D / 8 lanes, each lane 8 values of a key's row (one 16-byte load), the
  // groups on different keys, then summed across groups. (One thread per value dimension
  // walking all the chunk's keys was a chain of 256 dependent steps: 40 us a layer at batch 1.)
  constexpr int kLanes = D / 8, kGroups = kThreads / kLanes;
  __shared__ float group_o[kGroups][D];
  const int group = threadIdx.x / kLanes, d0 = (threadIdx.x % kLanes) * 8;
  float acc[8] = {0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f};
#pragma unroll 4
  for (int j = start + group; j < end; j += kGroups) {
    const Bf16x8 v8 = *reinterpret_cast<const Bf16x8*>(vb + j * row + d0);
    const float pj = prob[j - start];
#pragma unroll
    for (int e = 0; e < 8; ++e) acc[e] = fmaf(pj, __bfloat162float(v8.v[e]), acc[e]);
  }
#pragma unroll
  for (int e = 0; e < 8; ++e) group_o[group][d0 + e] = acc[e];
  __syncthreads();
  for (int d = threadIdx.x; d < D; d += kThreads) {
    float sum = 0.f;
#pragma unroll
    for (int g = 0; g < kGroups; ++g) sum += group_o[g][d];
    part[d] = sum;
  }
  if (threadIdx.x == 0) {
    part[D] = m;
    part[D + 1] = l;
  }
}

template <int D>
__global__ void __launch_bounds__(D) decode_combine_kernel(DecodeAttentionParams p) {
  wait_for_predecessor();
  const int b = blockIdx.x, h = blockIdx.y, d = threadIdx.x;
  const float* parts = p.partial + (static_cast<int64_t>(b) * p.H + h) * p.splits * (D + 2);
  float m = -FLT_MAX;
  for (int c = 0; c < p.splits; ++c) m = fmaxf(m, parts[c * (D + 2) + D]);
  float l = 0.f, acc = 0.f;
  for (int c = 0; c < p.splits; ++c) {
    const float* part = parts + c * (D + 2);
    if (part[D + 1] == 0.f) continue;  // a chunk past the sequence's keys
    const float w = __expf(part[D] - m);
    l += w * part[D + 1];
    acc += w * part[d];
  }
  const int64_t at = (static_cast<int64_t>(b) * p.H + h) * D + d;
  const float o = round_bf16(acc / l);
  if (!p.gate) {
    store_bf16(p.o + at, o);
    return;
  }
  __shared__ float scratch[D / 32][1];
  float ss[1] = {o * o};
  block_sums(ss, scratch);
  const float g = load_bf16(p.gate + at);
  store_bf16(p.o + at, o * rsqrtf(ss[0] / D + p.eps) * p.gain[d] * (g * sigmoid(g)));
}

template <int D>
void launch(const DecodeAttentionParams& p, cudaStream_t stream) {
  launch_after_predecessor(decode_chunk_kernel<D>, dim3(p.B, p.H, p.splits), dim3(kThreads), 0, stream, p);
  launch_after_predecessor(decode_combine_kernel<D>, dim3(p.B, p.H), dim3(D), 0, stream, p);
}

}  // namespace

bool decode_attention_dim_supported(int D) { return D == 64 || D == 128; }

void decode_attention(const DecodeAttentionParams& p, cudaStream_t stream) {
  if (p.B == 0 || p.H == 0) return;
  if (p.D == 64) launch<64>(p, stream);
  if (p.D == 128) launch<128>(p, stream);
}

}  // namespace oryx::kernels
