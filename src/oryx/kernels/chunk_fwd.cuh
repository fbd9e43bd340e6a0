// The chunked forward of both linear mixers as two kernels (docs/kernels.md has the math):
//
//   fwd_prep   one block per (chunk, head, batch), all chunks at once. Gate prefix sums G and
//              the per-token factors F, the causal score matrix P = scale (Q K^T o e^{G_t-G_s}),
//              and for GDN the UT transform: A = (I + strictly-lower(beta K K^T o e^{G_t-G_s}))^-1
//              inverted in fp32 by 16x16 blocks, W = A diag(beta e^G) K and U = A diag(beta) V.
//   fwd_state  one block per (value tile, head, batch) walking the chunks in order with the
//              state in registers, transposed (S^T: rows v, columns k) so that it is an mma
//              accumulator and, converted to bf16, directly the A operand of the next product:
//                E^T = U^T - S^T W^T              (SSD: E = diag(beta) V, no state term)
//                O^T = (S^T Q^T) o scale e^{G_t} + E^T P^T
//                S^T = e^{G_C} S^T + (E^T o e^{G_C - G_t}) K
//              The value columns of the state are independent, so splitting V over blocks
//              gives long sequences with few heads their parallelism.
// Everything per element is precomputed once per token (F), loaded with ldmatrix and stored
// with stmatrix: the sequential kernel's time per chunk is its critical path, so it does
// little besides the tensor-core products.
#pragma once
#include "oryx/kernels/chunk_common.cuh"

namespace oryx::kernels {

// ---- fwd_prep ------------------------------------------------------------------------------

template <Mixer M, int K, int V>
struct PrepSmem {
  static constexpr bool kGdn = M == Mixer::Gdn;
  static constexpr int kThreads = 256;
  static constexpr int kBytes = 2 * tile_bytes(C, K) + (kGdn ? tile_bytes(C, V) : 0) +
                                2 * tile_bytes(C, C) + floats_bytes(2 * C) +
                                (kGdn ? 2 * floats_bytes(C * (C + 1)) + floats_bytes(3 * 16 * 17) : 0);
};

// Inverse of the unit lower-triangular 64x64 matrix I + L (L strictly lower, in `a`, row
// stride C+1), written to `t`. Diagonal 16x16 blocks first (one thread per column runs
// forward substitution in registers), then the off-diagonal blocks by distance from the
// diagonal: T_ij = -T_ii sum_{k=j}^{i-1} L_ik T_kj. fp32 throughout. NT threads.
template <int NT>
__device__ __forceinline__ void invert_unit_lower64(const float* a, float* t, float* scratch) {
  constexpr int ld = C + 1;
  int tid = threadIdx.x;
  for (int i = tid; i < C * C; i += NT) {  // zero the upper blocks
    int r = i / C, c = i % C;
    if (c / 16 > r / 16) t[r * ld + c] = 0.f;
  }
  if (tid < 64) {
    int blk = tid >> 4, l = tid & 15, o = blk * 16;
    float col[16];
#pragma unroll
    for (int r = 0; r < 16; ++r) {
      float x = (r == l) ? 1.f : 0.f;
#pragma unroll
      for (int j = 0; j < r; ++j) x -= a[(o + r) * ld + o + j] * col[j];
      col[r] = x;
      t[(o + r) * ld + o + l] = x;
    }
  }
  __syncthreads();
  for (int d = 1; d < 4; ++d) {
    int nblk = 4 - d;  // blocks (i, i-d), i = d..3
    for (int e = tid; e < nblk * 256; e += NT) {
      int bi = e >> 8, r = (e >> 4) & 15, cc = e & 15;
      int i = bi + d, j = bi;
      float x = 0.f;
      for (int kb = j; kb < i; ++kb)
#pragma unroll
        for (int m = 0; m < 16; ++m) x += a[(16 * i + r) * ld + 16 * kb + m] * t[(16 * kb + m) * ld + 16 * j + cc];
      scratch[(bi * 16 + r) * 17 + cc] = x;
    }
    __syncthreads();
    for (int e = tid; e < nblk * 256; e += NT) {
      int bi = e >> 8, r = (e >> 4) & 15, cc = e & 15;
      int i = bi + d, j = bi;
      float x = 0.f;
#pragma unroll
      for (int m = 0; m < 16; ++m) x += t[(16 * i + r) * ld + 16 * i + m] * scratch[(bi * 16 + m) * 17 + cc];
      t[(16 * i + r) * ld + 16 * j + cc] = -x;
    }
    __syncthreads();
  }
}

// 8 warps: warp w owns rows 16 (w % 4) and half w / 4 of the columns of every product.
// Two blocks fit on a multiprocessor (about 105 KB of shared memory, <= 128 registers).
template <Mixer M, int K, int V>
__global__ void __launch_bounds__(PrepSmem<M, K, V>::kThreads, 2) fwd_prep_kernel(ChunkParams p) {
  constexpr bool kGdn = M == Mixer::Gdn;
  constexpr int NT = PrepSmem<M, K, V>::kThreads;
  extern __shared__ __align__(16) char smem[];
  const int n = blockIdx.x, h = blockIdx.y, b = blockIdx.z;
  const int w = threadIdx.x >> 5, r0 = 16 * (w & 3), half = w >> 2;
  const int valid = min(C, p.T - n * C);
  SmemCarver sc(smem);
  Tile Qs = sc.tile(C, K), Ks = sc.tile(C, K);
  Tile Vs = kGdn ? sc.tile(C, V) : Tile{nullptr, 0};
  Tile S1 = sc.tile(C, C), S2 = sc.tile(C, C);
  float* Gs = sc.floats(C);
  float* Bs = sc.floats(C);

  load_tile_async<C, K, NT>(Qs, as_bf16(p.q) + bthd(p, b, n * C, h, K), long(p.H) * K, valid);
  load_tile_async<C, K, NT>(Ks, as_bf16(p.k) + bthd(p, b, n * C, h, K), long(p.H) * K, valid);
  if constexpr (kGdn)
    load_tile_async<C, V, NT>(Vs, as_bf16(p.v) + bthd(p, b, n * C, h, V), long(p.H) * V, valid);
  cp_async_commit();
  load_gates(p, b, h, n, Gs, Bs);
  cp_async_wait<0>();
  __syncthreads();

  const long bh = static_cast<long>(b) * p.H + h;
  const float Gc = Gs[C - 1];
  if (threadIdx.x < C) {
    int t = threadIdx.x;
    long i = bh * p.N * C + n * C + t;
    float g = Gs[t], bt = Bs[t], tail = __expf(Gc - g);
    p.G[i] = g;
    reinterpret_cast<float4*>(p.F)[i] = make_float4(__expf(g), tail, bt, bt * tail);
  }

  // P = scale (Q K^T o e^{G_t - G_s}) for s <= t.
  {
    FragC acc[1][4];
    zero(acc);
    warp_gemm<1, 4, false, false>(acc, Qs, r0, Ks, 32 * half, 0, K);
#pragma unroll
    for (int j = 0; j < 4; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        int t = r0 + c_row(e), s = 32 * half + 8 * j + c_col(e);
        acc[0][j].x[e] = s <= t ? p.scale * acc[0][j].x[e] * __expf(Gs[t] - Gs[s]) : 0.f;
      }
    store_c(S1, r0, 32 * half, acc[0]);
  }
  if constexpr (kGdn) {
    float* Af = sc.floats(C * (C + 1));
    float* Tf = sc.floats(C * (C + 1));
    float* scratch = sc.floats(3 * 16 * 17);
    {
      FragC acc[1][4];
      zero(acc);
      warp_gemm<1, 4, false, false>(acc, Ks, r0, Ks, 32 * half, 0, K);
#pragma unroll
      for (int j = 0; j < 4; ++j)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          int t = r0 + c_row(e), s = 32 * half + 8 * j + c_col(e);
          Af[t * (C + 1) + s] = s < t ? Bs[t] * acc[0][j].x[e] * __expf(Gs[t] - Gs[s]) : 0.f;
        }
    }
    __syncthreads();
    store_tile<C, C, NT>(as_bf16(p.P) + (bh * p.N + n) * C * C, C, S1, C);
    invert_unit_lower64<NT>(Af, Tf, scratch);  // ends with __syncthreads
    Tile As{Qs.p, pad_ld(C)};  // q is no longer needed: stage A here for a vector store
    {
      // Each thread keeps one column s (fixed factors) and steps down the rows.
      const int s = threadIdx.x % C;
      const float bs = Bs[s], bge = bs * __expf(Gs[s]);
      for (int t = threadIdx.x / C; t < C; t += NT / C) {
        float x = Tf[t * (C + 1) + s];
        *As.at(t, s) = __float2bfloat16(x);
        *S1.at(t, s) = __float2bfloat16(x * bge);  // A diag(beta e^G)
        *S2.at(t, s) = __float2bfloat16(x * bs);   // A diag(beta)
      }
    }
    __syncthreads();
    store_tile<C, C, NT>(as_bf16(p.A) + (bh * p.N + n) * C * C, C, As, C);
    // W = S1 K and U = S2 V.
    FragC wacc[1][K / 16], uacc[1][V / 16];
    zero(wacc);
    zero(uacc);
    warp_gemm<1, K / 16, false, true>(wacc, S1, r0, Ks, half * K / 2, 0, C);
    warp_gemm<1, V / 16, false, true>(uacc, S2, r0, Vs, half * V / 2, 0, C);
    __syncthreads();  // everyone is done reading Ks and Vs: reuse them as staging
    store_c(Ks, r0, half * K / 2, wacc[0]);
    store_c(Vs, r0, half * V / 2, uacc[0]);
    __syncthreads();
    store_tile<C, K, NT>(as_bf16(p.W) + bh_row(p, b, h, n * C, K), K, Ks, C);
    store_tile<C, V, NT>(as_bf16(p.U) + bh_row(p, b, h, n * C, V), V, Vs, C);
  } else {
    __syncthreads();
    store_tile<C, C, NT>(as_bf16(p.P) + (bh * p.N + n) * C * C, C, S1, C);
  }
}

// ---- fwd_state -----------------------------------------------------------------------------

template <Mixer M, int K, int V, int BV>
struct StateFwdSmem {
  static constexpr bool kGdn = M == Mixer::Gdn;
  static constexpr int kStage = (kGdn ? 3 : 2) * tile_bytes(C, K) + tile_bytes(C, BV) +
                                tile_bytes(C, C) + floats_bytes(4 * C);
  static constexpr int kBytes = 2 * kStage + 2 * tile_bytes(C, BV) + tile_bytes(K, BV);
};

// Copies the factors F of chunk n (C float4) into shared memory.
template <int NT>
__device__ __forceinline__ void load_factors_async(float* dst, const ChunkParams& p, long bh, int n) {
  const float* src = p.F + (bh * p.N * C + n * C) * 4;
  for (int i = threadIdx.x; i < C; i += NT) cp_async16(dst + 4 * i, src + 4 * i, true);
}

template <Mixer M, int K, int V, int BV>
__global__ void __launch_bounds__(BV * 2) fwd_state_kernel(ChunkParams p) {
  constexpr bool kGdn = M == Mixer::Gdn;
  constexpr int NT = BV * 2;  // threads: one warp per 16 value rows
  using L = StateFwdSmem<M, K, V, BV>;
  extern __shared__ __align__(16) char smem[];
  const int vt = blockIdx.x, h = blockIdx.y, b = blockIdx.z;
  const int w = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int v0 = vt * BV;
  const int vw = 16 * w;  // first row of this warp inside the tile
  const long bh = static_cast<long>(b) * p.H + h;

  // Two stages of chunk inputs (double buffering), then the output staging tiles.
  SmemCarver sc(smem);
  const Tile Qs0 = sc.tile(C, K), Ks0 = sc.tile(C, K);
  const Tile Ws0 = kGdn ? sc.tile(C, K) : Tile{nullptr, 0};
  const Tile Xs0 = sc.tile(C, BV);  // U (GDN) or V (SSD), this block's columns
  const Tile Ps0 = sc.tile(C, C);
  float* const Fs0 = sc.floats(4 * C);
  sc.off = 2 * L::kStage;
  Tile Os = sc.tile(C, BV), Es = sc.tile(C, BV), Hs = sc.tile(K, BV);
  auto stg = [](const Tile& t, int st) { return Tile{reinterpret_cast<bf16*>(reinterpret_cast<char*>(t.p) + st * L::kStage), t.ld}; };
  auto stgf = [](float* f, int st) { return reinterpret_cast<float*>(reinterpret_cast<char*>(f) + st * L::kStage); };

  auto prefetch = [&](int n, int st) {
    int valid = min(C, p.T - n * C);
    load_tile_async<C, K, NT>(stg(Qs0, st), as_bf16(p.q) + bthd(p, b, n * C, h, K), long(p.H) * K, valid);
    load_tile_async<C, K, NT>(stg(Ks0, st), as_bf16(p.k) + bthd(p, b, n * C, h, K), long(p.H) * K, valid);
    if constexpr (kGdn) {
      load_tile_async<C, K, NT>(stg(Ws0, st), as_bf16(p.W) + bh_row(p, b, h, n * C, K), K, C);
      load_tile_async<C, BV, NT>(stg(Xs0, st), as_bf16(p.U) + bh_row(p, b, h, n * C, V) + v0, V, C);
    } else {
      load_tile_async<C, BV, NT>(stg(Xs0, st), as_bf16(p.v) + bthd(p, b, n * C, h, V) + v0, long(p.H) * V, valid);
    }
    load_tile_async<C, C, NT>(stg(Ps0, st), as_bf16(p.P) + (bh * p.N + n) * C * C, C, C);
    load_factors_async<NT>(stgf(Fs0, st), p, bh, n);
    cp_async_commit();
  };

  // The state S^T: this warp's 16 value rows x all K columns.
  FragC s[K / 8];
#pragma unroll
  for (int j = 0; j < K / 8; ++j)
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      int kk = 8 * j + c_col(e), vv = v0 + vw + c_row(e);
      s[j].x[e] = p.h0 ? p.h0[(bh * K + kk) * V + vv] : 0.f;
    }

  prefetch(0, 0);
  for (int n = 0; n < p.N; ++n) {
    const int st = n & 1;
    cp_async_wait<0>();
    __syncthreads();
    if (n + 1 < p.N) prefetch(n + 1, st ^ 1);
    const Tile Qs = stg(Qs0, st), Ks = stg(Ks0, st), Ws = stg(Ws0, st), Xs = stg(Xs0, st),
               Ps = stg(Ps0, st);
    const float4* F = reinterpret_cast<const float4*>(stgf(Fs0, st));
    const float decay = F[C - 1].x;  // e^{G_C}

    if (p.save) store_c_t(Hs, vw, 0, s);  // h_n = S at the chunk's start, [K][V] layout

    // O^T = S^T Q^T and (GDN) X = S^T W^T, sharing the A fragments of S^T.
    FragC xo[8], xe[8];
#pragma unroll
    for (int j = 0; j < 8; ++j) { xo[j].zero(); xe[j].zero(); }
#pragma unroll
    for (int ks = 0; ks < K / 16; ++ks) {
      FragA a = a_from_c(s[2 * ks], s[2 * ks + 1]);
#pragma unroll
      for (int j = 0; j < 8; j += 2) {
        FragB b0, b1;
        load_b_nk(b0, b1, Qs, 8 * j, 16 * ks);
        mma(xo[j], a, b0);
        mma(xo[j + 1], a, b1);
        if constexpr (kGdn) {
          load_b_nk(b0, b1, Ws, 8 * j, 16 * ks);
          mma(xe[j], a, b0);
          mma(xe[j + 1], a, b1);
        }
      }
    }
    float4 f[4][4];
    load_lane_factors(F, lane, f);
#pragma unroll
    for (int j = 0; j < 8; ++j) {
      const float4& f0 = f[j >> 1][(j & 1) * 2];
      const float4& f1 = f[j >> 1][(j & 1) * 2 + 1];
      xo[j].x[0] *= p.scale * f0.x; xo[j].x[1] *= p.scale * f1.x;
      xo[j].x[2] *= p.scale * f0.x; xo[j].x[3] *= p.scale * f1.x;
    }
    // E^T as A fragments: ea for the output, es scaled by e^{G_C - G_t} for the state.
    FragA ea[4], es[4];
#pragma unroll
    for (int ks = 0; ks < 4; ++ks) {
      FragA x = load_a_t(Xs, vw, 16 * ks);  // U^T (GDN) or V^T (SSD)
      if constexpr (kGdn) {
        float2 u;
        u = unpack_bf16(x.x[0]); xe[2 * ks].x[0] = u.x - xe[2 * ks].x[0]; xe[2 * ks].x[1] = u.y - xe[2 * ks].x[1];
        u = unpack_bf16(x.x[1]); xe[2 * ks].x[2] = u.x - xe[2 * ks].x[2]; xe[2 * ks].x[3] = u.y - xe[2 * ks].x[3];
        u = unpack_bf16(x.x[2]); xe[2 * ks + 1].x[0] = u.x - xe[2 * ks + 1].x[0]; xe[2 * ks + 1].x[1] = u.y - xe[2 * ks + 1].x[1];
        u = unpack_bf16(x.x[3]); xe[2 * ks + 1].x[2] = u.x - xe[2 * ks + 1].x[2]; xe[2 * ks + 1].x[3] = u.y - xe[2 * ks + 1].x[3];
        ea[ks] = a_from_c(xe[2 * ks], xe[2 * ks + 1]);
        es[ks] = a_from_c_scaled(xe[2 * ks], xe[2 * ks + 1], f[ks][0].y, f[ks][1].y, f[ks][2].y, f[ks][3].y);
      } else {
        ea[ks] = x;
        scale_a_cols(ea[ks], f[ks][0].z, f[ks][1].z, f[ks][2].z, f[ks][3].z);
        es[ks] = x;
        scale_a_cols(es[ks], f[ks][0].w, f[ks][1].w, f[ks][2].w, f[ks][3].w);
      }
    }
    // O^T += E^T P^T.
#pragma unroll
    for (int ks = 0; ks < 4; ++ks)
#pragma unroll
      for (int j = 0; j < 8; j += 2) {
        FragB b0, b1;
        load_b_nk(b0, b1, Ps, 8 * j, 16 * ks);
        mma(xo[j], ea[ks], b0);
        mma(xo[j + 1], ea[ks], b1);
      }
    store_c_t(Os, vw, 0, xo);
    if (kGdn && p.save) store_c_t(Es, vw, 0, xe);
    // S^T = e^{G_C} S^T + (E^T o e^{G_C - G_t}) K.
#pragma unroll
    for (int j = 0; j < K / 8; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) s[j].x[e] *= decay;
#pragma unroll
    for (int ks = 0; ks < 4; ++ks)
#pragma unroll
      for (int j = 0; j < K / 8; j += 2) {
        FragB b0, b1;
        load_b_kn(b0, b1, Ks, 8 * j, 16 * ks);
        mma(s[j], es[ks], b0);
        mma(s[j + 1], es[ks], b1);
      }
    __syncthreads();  // staging complete
    const int valid = min(C, p.T - n * C);
    store_tile<C, BV, NT>(as_bf16(p.o) + bthd(p, b, n * C, h, V) + v0, long(p.H) * V, Os, valid);
    if (p.save) {
      if constexpr (kGdn) store_tile<C, BV, NT>(as_bf16(p.E) + bh_row(p, b, h, n * C, V) + v0, V, Es, C);
      store_tile<K, BV, NT>(as_bf16(p.h) + ((bh * p.N + n) * K) * V + v0, V, Hs, K);
    }
  }
#pragma unroll
  for (int j = 0; j < K / 8; ++j)
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      int kk = 8 * j + c_col(e), vv = v0 + vw + c_row(e);
      p.ht[(bh * K + kk) * V + vv] = s[j].x[e];
    }
}

}  // namespace oryx::kernels
