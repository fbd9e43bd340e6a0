// Device helpers the kernels share: bf16 loads and stores with fp32 arithmetic, the 16-byte
// vector of eight bf16 (the widest global load: pointers 16-byte aligned, lengths a multiple
// of 8), two or four bf16 in one access, a warp's sum, the sigmoid, and the end of a row
// kernel's weight gradient.
#pragma once
#include <cuda_bf16.h>

#include "oryx/kernels/linear_params.h"

namespace oryx::kernels {

struct alignas(16) Bf16x8 {
  __nv_bfloat16 v[8];
};

__device__ __forceinline__ float load_bf16(const bf16_bits* p) {
  return __bfloat162float(*reinterpret_cast<const __nv_bfloat16*>(p));
}
__device__ __forceinline__ void store_bf16(bf16_bits* p, float v) {
  *reinterpret_cast<__nv_bfloat16*>(p) = __float2bfloat16(v);
}

// E consecutive bf16 as floats, in one access (E = 2 or 4: 4 or 8 bytes, the address aligned
// to it): the one-warp-per-row kernels' lane share of a row of 64 or 128.
template <int E>
struct Vec {
  float v[E];
};

template <int E>
__device__ __forceinline__ Vec<E> load_vec(const bf16_bits* p) {
  Vec<E> out;
  if constexpr (E == 4) {
    const uint2 bits = *reinterpret_cast<const uint2*>(p);
    out.v[0] = __uint_as_float(bits.x << 16);
    out.v[1] = __uint_as_float(bits.x & 0xffff0000u);
    out.v[2] = __uint_as_float(bits.y << 16);
    out.v[3] = __uint_as_float(bits.y & 0xffff0000u);
  } else {
    const uint32_t bits = *reinterpret_cast<const uint32_t*>(p);
    out.v[0] = __uint_as_float(bits << 16);
    out.v[1] = __uint_as_float(bits & 0xffff0000u);
  }
  return out;
}

template <int E>
__device__ __forceinline__ void store_vec(bf16_bits* p, const Vec<E>& in) {
  if constexpr (E == 4) {
    __nv_bfloat162 a = __floats2bfloat162_rn(in.v[0], in.v[1]), b = __floats2bfloat162_rn(in.v[2], in.v[3]);
    uint2 bits;
    bits.x = *reinterpret_cast<uint32_t*>(&a);
    bits.y = *reinterpret_cast<uint32_t*>(&b);
    *reinterpret_cast<uint2*>(p) = bits;
  } else {
    *reinterpret_cast<__nv_bfloat162*>(p) = __floats2bfloat162_rn(in.v[0], in.v[1]);
  }
}

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xffffffff, v, off);
  return v;
}

__device__ __forceinline__ float sigmoid(float x) { return 1.f / (1.f + __expf(-x)); }

// A block's warps have each written their column partial sums to part[warp][j]: sums them per
// column and adds the result to dst[j], one atomicAdd per column and block (the weight
// gradients of the one-warp-per-row norm kernels).
template <int WARPS, int COLS>
__device__ __forceinline__ void add_block_columns(float (&part)[WARPS][COLS], float* dst) {
  __syncthreads();
  for (int j = threadIdx.x; j < COLS; j += WARPS * 32) {
    float sum = 0.f;
#pragma unroll
    for (int w = 0; w < WARPS; ++w) sum += part[w][j];
    atomicAdd(dst + j, sum);
  }
}

}  // namespace oryx::kernels
