// Device helpers the kernels share: bf16 loads and stores with fp32 arithmetic, the 16-byte
// vector of eight bf16 (the widest global load: pointers 16-byte aligned, lengths a multiple
// of 8), two or four bf16 in one access, a warp's and a block's sums, the sigmoid, and the end
// of a row kernel's weight gradient.
#pragma once
#include <cuda_bf16.h>
#include <cuda_runtime.h>

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

// v rounded to bf16 and back: the value a bf16 tensor would hold.
__device__ __forceinline__ float round_bf16(float v) { return __bfloat162float(__float2bfloat16(v)); }

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

// Block-wide sums of N values per thread in a block of WARPS warps, returned to every thread.
// `scratch` is reused by the next call: the leading barrier keeps it from being overwritten
// while a slower warp still reads the previous sums.
template <int WARPS, int N>
__device__ __forceinline__ void block_sums(float (&v)[N], float (&scratch)[WARPS][N]) {
#pragma unroll
  for (int n = 0; n < N; ++n) v[n] = warp_sum(v[n]);
  __syncthreads();
  if (threadIdx.x % 32 == 0)
#pragma unroll
    for (int n = 0; n < N; ++n) scratch[threadIdx.x / 32][n] = v[n];
  __syncthreads();
#pragma unroll
  for (int n = 0; n < N; ++n) {
    float s = 0.f;
#pragma unroll
    for (int w = 0; w < WARPS; ++w) s += scratch[w][n];
    v[n] = s;
  }
}

// Programmatic dependent launch (Hopper), for the decoding kernels: launched with
// launch_after_predecessor(), a kernel may start while the kernel before it in the stream still
// runs (a CUDA graph records the launch as such). It loads what no recent kernel writes
// (weights, recurrent states, conv windows) first, then waits in wait_for_predecessor() for the
// predecessor to finish and its writes to be visible, and only then lets its own successor
// start: the overlap stays two kernels deep, so a successor's early loads never race a kernel
// older than its predecessor. ORYX_DECODE_PDL=0 launches plainly (the wait is then a no-op).
__device__ __forceinline__ void wait_for_predecessor() {
  asm volatile("griddepcontrol.wait;" ::: "memory");
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
}

bool decode_pdl_enabled();  // false when ORYX_DECODE_PDL=0 (read once; decode_gemv.cu)

template <typename... Params, typename... Args>
void launch_after_predecessor(void (*kernel)(Params...), dim3 grid, dim3 block, size_t smem, cudaStream_t stream,
                              Args... args) {
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = grid;
  cfg.blockDim = block;
  cfg.dynamicSmemBytes = smem;
  cfg.stream = stream;
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr[0].val.programmaticStreamSerializationAllowed = 1;
  cfg.attrs = attr;
  cfg.numAttrs = decode_pdl_enabled() ? 1 : 0;
  cudaLaunchKernelEx(&cfg, kernel, args...);
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
