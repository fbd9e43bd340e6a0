// The MLP's SwiGLU, forward and backward, one pass each: the backward recomputes silu(gate)
// from gate instead of saving it. Eight bf16 values per thread and access (16-byte loads)
// when every pointer allows it, one at a time otherwise.
#include <cuda_bf16.h>

#include <algorithm>
#include <cstdint>

#include "oryx/kernels/swiglu.h"
#include "oryx/kernels/device_common.cuh"

namespace oryx::kernels {

namespace {

constexpr int kThreads = 256;
constexpr int kVec = 8;


template <int N>
__device__ __forceinline__ void load(const bf16_bits* p, int64_t i, float (&out)[N]) {
  if constexpr (N == kVec) {
    Bf16x8 k = reinterpret_cast<const Bf16x8*>(p)[i];
#pragma unroll
    for (int j = 0; j < N; ++j) out[j] = __bfloat162float(k.v[j]);
  } else {
    out[0] = __bfloat162float(reinterpret_cast<const __nv_bfloat16*>(p)[i]);
  }
}

template <int N>
__device__ __forceinline__ void store(bf16_bits* p, int64_t i, const float (&in)[N]) {
  if constexpr (N == kVec) {
    Bf16x8 k;
#pragma unroll
    for (int j = 0; j < N; ++j) k.v[j] = __float2bfloat16(in[j]);
    reinterpret_cast<Bf16x8*>(p)[i] = k;
  } else {
    reinterpret_cast<__nv_bfloat16*>(p)[i] = __float2bfloat16(in[0]);
  }
}

template <int N>
__global__ void __launch_bounds__(kThreads) swiglu_fwd_kernel(SwiGluParams p, int64_t packs) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(kThreads) + threadIdx.x; i < packs;
       i += static_cast<int64_t>(gridDim.x) * kThreads) {
    float g[N], u[N], y[N];
    load(p.gate, i, g);
    load(p.up, i, u);
#pragma unroll
    for (int j = 0; j < N; ++j) y[j] = g[j] * sigmoid(g[j]) * u[j];
    store(p.y, i, y);
  }
}

template <int N>
__global__ void __launch_bounds__(kThreads) swiglu_bwd_kernel(SwiGluParams p, int64_t packs) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(kThreads) + threadIdx.x; i < packs;
       i += static_cast<int64_t>(gridDim.x) * kThreads) {
    float g[N], u[N], dy[N], dg[N], du[N];
    load(p.gate, i, g);
    load(p.up, i, u);
    load(p.dy, i, dy);
#pragma unroll
    for (int j = 0; j < N; ++j) {
      const float s = sigmoid(g[j]);
      du[j] = dy[j] * g[j] * s;
      dg[j] = dy[j] * u[j] * s * (1.f + g[j] * (1.f - s));
    }
    store(p.dgate, i, dg);
    store(p.dup, i, du);
  }
}

bool aligned(const void* ptr) { return reinterpret_cast<uintptr_t>(ptr) % 16 == 0; }

// A grid of at most 8 blocks per multiprocessor's worth (132 SMs on H200) walks the
// elements; small tensors get one block per 256 packs.
int64_t blocks_for(int64_t packs) { return std::min<int64_t>((packs + kThreads - 1) / kThreads, 132 * 8); }

bool vectorizable(const SwiGluParams& p, bool backward) {
  bool ok = p.n % kVec == 0 && aligned(p.gate) && aligned(p.up);
  if (backward) return ok && aligned(p.dy) && aligned(p.dgate) && aligned(p.dup);
  return ok && aligned(p.y);
}

}  // namespace

void swiglu_forward(const SwiGluParams& p, cudaStream_t stream) {
  if (p.n == 0) return;
  if (vectorizable(p, false)) {
    int64_t packs = p.n / kVec;
    swiglu_fwd_kernel<kVec><<<blocks_for(packs), kThreads, 0, stream>>>(p, packs);
  } else {
    swiglu_fwd_kernel<1><<<blocks_for(p.n), kThreads, 0, stream>>>(p, p.n);
  }
}

void swiglu_backward(const SwiGluParams& p, cudaStream_t stream) {
  if (p.n == 0) return;
  if (vectorizable(p, true)) {
    int64_t packs = p.n / kVec;
    swiglu_bwd_kernel<kVec><<<blocks_for(packs), kThreads, 0, stream>>>(p, packs);
  } else {
    swiglu_bwd_kernel<1><<<blocks_for(p.n), kThreads, 0, stream>>>(p, p.n);
  }
}

}  // namespace oryx::kernels
