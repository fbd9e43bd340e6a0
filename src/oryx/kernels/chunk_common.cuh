// Pieces shared by the chunked forward and backward kernels: index arithmetic of the
// [B,T,H,*] inputs and [B,H,...] intermediates, the gate prefix sum, and shared-memory
// carving. C = kChunk = 64 tokens per chunk throughout.
#pragma once
#include "oryx/kernels/linear_params.h"
#include "oryx/kernels/mma.cuh"

namespace oryx::kernels {

constexpr int C = kChunk;

// Row stride (elements) of a padded shared tile with `cols` logical columns.
constexpr int pad_ld(int cols) { return cols + 8; }
constexpr int tile_bytes(int rows, int cols) { return rows * pad_ld(cols) * 2; }

// Bump allocator over dynamic shared memory; every piece 16-byte aligned.
struct SmemCarver {
  char* base;
  int off = 0;
  __device__ explicit SmemCarver(char* b) : base(b) {}
  __device__ Tile tile(int rows, int cols) {
    Tile t{reinterpret_cast<bf16*>(base + off), pad_ld(cols)};
    off += tile_bytes(rows, cols);
    return t;
  }
  __device__ float* floats(int n) {
    float* p = reinterpret_cast<float*>(base + off);
    off += ((n * 4 + 15) / 16) * 16;
    return p;
  }
};
// Host-side mirror of SmemCarver's sizes.
constexpr int floats_bytes(int n) { return ((n * 4 + 15) / 16) * 16; }

__device__ __forceinline__ const bf16* as_bf16(const bf16_bits* p) {
  return reinterpret_cast<const bf16*>(p);
}
__device__ __forceinline__ bf16* as_bf16(bf16_bits* p) { return reinterpret_cast<bf16*>(p); }

// Offsets of token row t of head h, batch b, in [B,T,H,D] and of row r of [B,H,Tp,D].
__device__ __forceinline__ long bthd(const ChunkParams& p, int b, int t, int h, int D) {
  return ((static_cast<long>(b) * p.T + t) * p.H + h) * D;
}
__device__ __forceinline__ long bh_row(const ChunkParams& p, int b, int h, int r, int D) {
  return ((static_cast<long>(b) * p.H + h) * p.N * C + r) * D;
}

// Loads the gates of chunk n (zeros past T) into smem: G = inclusive prefix sum of g inside
// the chunk, bt = beta. Warp 0 does it: two tokens per lane, then a shuffle scan.
__device__ __forceinline__ void load_gates(const ChunkParams& p, int b, int h, int n, float* G,
                                           float* bt) {
  if (threadIdx.x >= 32) return;
  int lane = threadIdx.x;
  int t = n * C + 2 * lane;
  long i0 = (static_cast<long>(b) * p.T + t) * p.H + h;
  float g0 = t < p.T ? p.g[i0] : 0.f;
  float g1 = t + 1 < p.T ? p.g[i0 + p.H] : 0.f;
  float b0 = t < p.T ? p.beta[i0] : 0.f;
  float b1 = t + 1 < p.T ? p.beta[i0 + p.H] : 0.f;
  float s = g0 + g1;
#pragma unroll
  for (int d = 1; d < 32; d <<= 1) {
    float u = __shfl_up_sync(0xffffffffu, s, d);
    if (lane >= d) s += u;
  }
  G[2 * lane] = s - g1;
  G[2 * lane + 1] = s;
  bt[2 * lane] = b0;
  bt[2 * lane + 1] = b1;
}

// Coordinates of accumulator element e (0..3) of an n-tile: row offset and column offset.
__device__ __forceinline__ int c_row(int e) { return ((threadIdx.x & 31) >> 2) + ((e >> 1) << 3); }
__device__ __forceinline__ int c_col(int e) { return ((threadIdx.x & 3) << 1) + (e & 1); }

// The per-token factors F (fwd_prep) of this lane's accumulator columns within a chunk:
// t = 16 ks + 2c + {0, 1, 8, 9} for c = lane % 4, one group of four per 16-token block ks.
__device__ __forceinline__ void load_lane_factors(const float4* F, int lane, float4 (&f)[4][4]) {
#pragma unroll
  for (int ks = 0; ks < 4; ++ks) {
    int t = 16 * ks + 2 * (lane & 3);
    f[ks][0] = F[t]; f[ks][1] = F[t + 1]; f[ks][2] = F[t + 8]; f[ks][3] = F[t + 9];
  }
}

}  // namespace oryx::kernels
