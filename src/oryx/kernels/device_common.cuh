// Device helpers the kernels share: bf16 loads and stores with fp32 arithmetic, the 16-byte
// vector of eight bf16 (the widest global load: pointers 16-byte aligned, lengths a multiple
// of 8), a warp's sum, the sigmoid, and the end of a row kernel's weight gradient.
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
