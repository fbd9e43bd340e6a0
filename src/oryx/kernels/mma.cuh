// Warp-level building blocks for the chunked kernels: bf16 tensor-core products
// (mma.sync m16n8k16, fp32 accumulate) on tiles held in shared memory, fragment loads with
// ldmatrix, and cp.async tile copies. mma.sync is the sm_80+ instruction; it reaches about
// two thirds of Hopper's wgmma rate but needs no warpgroup choreography, and every product
// here is small (64 rows), where wgmma's fixed costs would dominate anyway.
//
// Fragment layouts (PTX ISA, "mma.m16n8k16", g = lane / 4, c = lane % 4):
//   A 16x16 (row-major):  x0 = (g, 2c..2c+1)  x1 = (g+8, 2c..)  x2 = (g, 2c+8..)  x3 = (g+8, 2c+8..)
//   B 16x8  (k x n):      x0 = (k 2c..2c+1, n g)   x1 = (k 2c+8.., n g)
//   C 16x8  (fp32):       x0,x1 = (g, 2c..2c+1)    x2,x3 = (g+8, 2c..2c+1)
// Two C tiles side by side (columns 8j..8j+15) hold exactly an A fragment's elements, so a
// product's result feeds the next product from registers (a_from_c below).
#pragma once
#include <cuda_bf16.h>
#include <cstdint>

namespace oryx::kernels {

using bf16 = __nv_bfloat16;

struct FragA { uint32_t x[4]; };
struct FragB { uint32_t x[2]; };
struct FragC {
  float x[4];
  __device__ void zero() { x[0] = x[1] = x[2] = x[3] = 0.f; }
};

// A shared-memory bf16 tile, row-major with a row stride of `ld` elements. Strides are the
// logical width plus 8 so that the eight 16-byte rows an ldmatrix reads fall in distinct banks.
struct Tile {
  bf16* p;
  int ld;
  __device__ bf16* at(int r, int c) const { return p + r * ld + c; }
};

__device__ __forceinline__ uint32_t smem_addr(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

__device__ __forceinline__ uint32_t pack_bf16(float lo, float hi) {
  __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<uint32_t*>(&v);
}

__device__ __forceinline__ float2 unpack_bf16(uint32_t u) {
  __nv_bfloat162 v = *reinterpret_cast<__nv_bfloat162*>(&u);
  return __bfloat1622float2(v);
}

__device__ __forceinline__ void mma(FragC& d, const FragA& a, const FragB& b) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
      "{%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(d.x[0]), "+f"(d.x[1]), "+f"(d.x[2]), "+f"(d.x[3])
      : "r"(a.x[0]), "r"(a.x[1]), "r"(a.x[2]), "r"(a.x[3]), "r"(b.x[0]), "r"(b.x[1]));
}

__device__ __forceinline__ void ldsm_x4(uint32_t (&r)[4], const void* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_addr(p)));
}

__device__ __forceinline__ void ldsm_x4_t(uint32_t (&r)[4], const void* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_addr(p)));
}

__device__ __forceinline__ void stsm_x4(void* p, uint32_t r0, uint32_t r1, uint32_t r2, uint32_t r3) {
  asm volatile("stmatrix.sync.aligned.m8n8.x4.shared.b16 [%0], {%1,%2,%3,%4};\n" ::"r"(smem_addr(p)),
               "r"(r0), "r"(r1), "r"(r2), "r"(r3));
}

__device__ __forceinline__ void stsm_x4_t(void* p, uint32_t r0, uint32_t r1, uint32_t r2, uint32_t r3) {
  asm volatile("stmatrix.sync.aligned.m8n8.x4.trans.shared.b16 [%0], {%1,%2,%3,%4};\n" ::"r"(smem_addr(p)),
               "r"(r0), "r"(r1), "r"(r2), "r"(r3));
}

// A fragment of rows m0..m0+15, columns k0..k0+15 of a row-major [M][K] tile.
__device__ __forceinline__ FragA load_a(const Tile& t, int m0, int k0) {
  int lane = threadIdx.x & 31;
  FragA a;
  ldsm_x4(a.x, t.at(m0 + (lane & 15), k0 + (lane >> 4) * 8));
  return a;
}

// A fragment of A = X^T where X is stored row-major [K][M] (ldmatrix transposes on load).
__device__ __forceinline__ FragA load_a_t(const Tile& t, int m0, int k0) {
  int lane = threadIdx.x & 31;
  FragA a;
  ldsm_x4_t(a.x, t.at(k0 + (lane & 7) + (lane >> 4) * 8, m0 + ((lane >> 3) & 1) * 8));
  return a;
}

// B fragments for n-tiles n0..n0+7 and n0+8..n0+15 at k0..k0+15, from B^T stored row-major
// [N][K] (k contiguous: the "col" operand of mma as it sits in memory).
__device__ __forceinline__ void load_b_nk(FragB& b0, FragB& b1, const Tile& t, int n0, int k0) {
  int lane = threadIdx.x & 31;
  uint32_t r[4];
  ldsm_x4(r, t.at(n0 + (lane & 7) + (lane >> 4) * 8, k0 + ((lane >> 3) & 1) * 8));
  b0.x[0] = r[0]; b0.x[1] = r[1]; b1.x[0] = r[2]; b1.x[1] = r[3];
}

// The same fragments from B stored row-major [K][N] (n contiguous), transposed on load.
__device__ __forceinline__ void load_b_kn(FragB& b0, FragB& b1, const Tile& t, int n0, int k0) {
  int lane = threadIdx.x & 31;
  uint32_t r[4];
  ldsm_x4_t(r, t.at(k0 + (lane & 7) + ((lane >> 3) & 1) * 8, n0 + (lane >> 4) * 8));
  b0.x[0] = r[0]; b0.x[1] = r[1]; b1.x[0] = r[2]; b1.x[1] = r[3];
}

// An A fragment (16 x 16) from the accumulators of two adjacent n-tiles (16 columns).
__device__ __forceinline__ FragA a_from_c(const FragC& c0, const FragC& c1) {
  FragA a;
  a.x[0] = pack_bf16(c0.x[0], c0.x[1]);
  a.x[1] = pack_bf16(c0.x[2], c0.x[3]);
  a.x[2] = pack_bf16(c1.x[0], c1.x[1]);
  a.x[3] = pack_bf16(c1.x[2], c1.x[3]);
  return a;
}

// As a_from_c with the columns scaled: f0,f1 for columns 2c,2c+1 and f2,f3 for 2c+8,2c+9.
__device__ __forceinline__ FragA a_from_c_scaled(const FragC& c0, const FragC& c1, float f0,
                                                 float f1, float f2, float f3) {
  FragA a;
  a.x[0] = pack_bf16(c0.x[0] * f0, c0.x[1] * f1);
  a.x[1] = pack_bf16(c0.x[2] * f0, c0.x[3] * f1);
  a.x[2] = pack_bf16(c1.x[0] * f2, c1.x[1] * f3);
  a.x[3] = pack_bf16(c1.x[2] * f2, c1.x[3] * f3);
  return a;
}

// Scales an A fragment's columns (same factor convention as a_from_c_scaled).
__device__ __forceinline__ void scale_a_cols(FragA& a, float f0, float f1, float f2, float f3) {
  float2 v;
  v = unpack_bf16(a.x[0]); a.x[0] = pack_bf16(v.x * f0, v.y * f1);
  v = unpack_bf16(a.x[1]); a.x[1] = pack_bf16(v.x * f0, v.y * f1);
  v = unpack_bf16(a.x[2]); a.x[2] = pack_bf16(v.x * f2, v.y * f3);
  v = unpack_bf16(a.x[3]); a.x[3] = pack_bf16(v.x * f2, v.y * f3);
}

// Stores a warp's 16 x 8*NT accumulator block (rows r0.., columns c0..) as bf16 into a
// row-major tile: dst(r0 + i, c0 + j) = acc(i, j). stmatrix: four 8x8 blocks per instruction.
template <int NT>
__device__ __forceinline__ void store_c(const Tile& dst, int r0, int c0, const FragC (&acc)[NT]) {
  static_assert(NT % 2 == 0, "store_c: NT must be even");
  int lane = threadIdx.x & 31;
#pragma unroll
  for (int j = 0; j < NT; j += 2)
    stsm_x4(dst.at(r0 + ((lane >> 3) & 1) * 8 + (lane & 7), c0 + 8 * j + ((lane >> 4) & 1) * 8),
            pack_bf16(acc[j].x[0], acc[j].x[1]), pack_bf16(acc[j].x[2], acc[j].x[3]),
            pack_bf16(acc[j + 1].x[0], acc[j + 1].x[1]), pack_bf16(acc[j + 1].x[2], acc[j + 1].x[3]));
}

// The same block stored transposed: dst(c0 + j, r0 + i) = acc(i, j) (stmatrix .trans).
template <int NT>
__device__ __forceinline__ void store_c_t(const Tile& dst, int r0, int c0, const FragC (&acc)[NT]) {
  static_assert(NT % 2 == 0, "store_c_t: NT must be even");
  int lane = threadIdx.x & 31;
#pragma unroll
  for (int j = 0; j < NT; j += 2)
    stsm_x4_t(dst.at(c0 + 8 * j + ((lane >> 4) & 1) * 8 + (lane & 7), r0 + ((lane >> 3) & 1) * 8),
              pack_bf16(acc[j].x[0], acc[j].x[1]), pack_bf16(acc[j].x[2], acc[j].x[3]),
              pack_bf16(acc[j + 1].x[0], acc[j + 1].x[1]), pack_bf16(acc[j + 1].x[2], acc[j + 1].x[3]));
}

// acc[MT][NT] += A[m0.., k0..k1) * B[k0..k1), n0..): A row-major ([M][K]) or transposed
// ([K][M]); B as [N][K] or [K][N]. One warp; NT even.
template <int MT, int NT, bool kAT, bool kBKN>
__device__ __forceinline__ void warp_gemm(FragC (&acc)[MT][NT], const Tile& A, int m0,
                                          const Tile& B, int n0, int k0, int k1) {
  static_assert(NT % 2 == 0, "warp_gemm: NT must be even");
#pragma unroll 2
  for (int k = k0; k < k1; k += 16) {
    FragA a[MT];
#pragma unroll
    for (int i = 0; i < MT; ++i) a[i] = kAT ? load_a_t(A, m0 + 16 * i, k) : load_a(A, m0 + 16 * i, k);
#pragma unroll
    for (int j = 0; j < NT; j += 2) {
      FragB b0, b1;
      if (kBKN) load_b_kn(b0, b1, B, n0 + 8 * j, k);
      else load_b_nk(b0, b1, B, n0 + 8 * j, k);
#pragma unroll
      for (int i = 0; i < MT; ++i) {
        mma(acc[i][j], a[i], b0);
        mma(acc[i][j + 1], a[i], b1);
      }
    }
  }
}

template <int MT, int NT>
__device__ __forceinline__ void zero(FragC (&acc)[MT][NT]) {
#pragma unroll
  for (int i = 0; i < MT; ++i)
#pragma unroll
    for (int j = 0; j < NT; ++j) acc[i][j].zero();
}

// ---- asynchronous global -> shared copies -------------------------------------------------

__device__ __forceinline__ void cp_async16(void* smem, const void* gmem, bool valid) {
  // src-size 0 zero-fills the 16 bytes: rows past the sequence end read as zeros.
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_addr(smem)),
               "l"(gmem), "r"(valid ? 16 : 0));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n"); }
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

// Copies ROWS x COLS bf16 (COLS a multiple of 8) from global rows `stride` elements apart into
// a tile; rows at or past `valid_rows` become zeros. All NTHREADS threads take part; each keeps
// one 16-byte column and steps down the rows, so the addressing is a few adds per copy.
template <int ROWS, int COLS, int NTHREADS>
__device__ __forceinline__ void load_tile_async(const Tile& dst, const bf16* src, long stride,
                                                int valid_rows) {
  constexpr int kChunks = COLS / 8;
  if constexpr (NTHREADS % kChunks == 0) {
    constexpr int kRowStep = NTHREADS / kChunks;
    const int c = (threadIdx.x % kChunks) * 8, r0 = threadIdx.x / kChunks;
    const bf16* s = src + r0 * stride + c;
    bf16* d = dst.at(r0, c);
#pragma unroll 4
    for (int r = r0; r < ROWS; r += kRowStep) {
      bool ok = r < valid_rows;
      cp_async16(d, ok ? s : src, ok);
      s += kRowStep * stride;
      d += kRowStep * dst.ld;
    }
  } else {
    for (int i = threadIdx.x; i < ROWS * kChunks; i += NTHREADS) {
      int r = i / kChunks, c = (i % kChunks) * 8;
      bool ok = r < valid_rows;
      cp_async16(dst.at(r, c), ok ? src + r * stride + c : src, ok);
    }
  }
}

// Stores ROWS x COLS of a tile to global rows `stride` apart, rows < valid_rows only.
template <int ROWS, int COLS, int NTHREADS>
__device__ __forceinline__ void store_tile(bf16* dst, long stride, const Tile& src, int valid_rows) {
  constexpr int kChunks = COLS / 8;
  for (int i = threadIdx.x; i < ROWS * kChunks; i += NTHREADS) {
    int r = i / kChunks, c = (i % kChunks) * 8;
    if (r < valid_rows)
      *reinterpret_cast<uint4*>(dst + r * stride + c) = *reinterpret_cast<const uint4*>(src.at(r, c));
  }
}

}  // namespace oryx::kernels
