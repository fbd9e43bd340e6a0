// Per-head RMSNorm with gain followed by rotary position embedding (rotate-half form): the
// attention's q and k (QK-norm + RoPE) in one pass over bf16 rows [rows = B*T*H, K], where
// the reference runs about fifteen fp32 elementwise ops and a concatenation.
//   n = bf16( x * rsqrt(mean(x^2) + eps) * w )        (rounded as the reference's norm output)
//   y[j]       = n[j] cos(p f_j) - n[j+K/2] sin(p f_j)
//   y[j+K/2]   = n[j+K/2] cos(p f_j) + n[j] sin(p f_j),   f_j = theta^(-2j/K), p the position
// Without positions the rotation is the identity (the norm alone, for GDN's L2 norms).
// One warp per row; lane l holds the rotation pairs (l + 32 m, l + 32 m + K/2), m < K/64.
// Angles, cos and sin in fp32 (sincosf, exact range reduction: positions reach 32768).
// The backward rotates dy back, then applies RMSNorm's backward; dw is summed per block in
// shared memory and added with one atomicAdd per block and column.
#include <cuda_bf16.h>

#include "oryx/kernels/norm_rope.h"
#include "oryx/kernels/device_common.cuh"

namespace oryx::kernels {

namespace {

constexpr int kWarps = 8;
constexpr int kRowsPerWarp = 16;

__device__ __forceinline__ float round_bf16(float v) { return __bfloat162float(__float2bfloat16(v)); }

template <int K>
struct Row {
  static constexpr int M = K / 64;  // rotation pairs per lane
  float a[M], b[M];                 // first-half and second-half elements of the lane's pairs
};

// The rotation of one row, cached across a warp's rows: the H consecutive rows of a token
// share its position, so cos and sin are computed once per position, not once per row (the
// sincosf calls, not memory, bounded these kernels). The frequencies are per lane constants.
template <int K>
struct Rotation {
  static constexpr int M = K / 64;
  float freq[M], c[M], s[M];
  int64_t pos = -1;

  __device__ __forceinline__ Rotation(const NormRopeParams& p, int lane) {
#pragma unroll
    for (int m = 0; m < M; ++m) {
      freq[m] = p.positions ? powf(p.theta, -2.f * (lane + 32 * m) / K) : 0.f;
      c[m] = 1.f;  // without positions: the identity rotation
      s[m] = 0.f;
    }
  }

  __device__ __forceinline__ void at_row(const NormRopeParams& p, int64_t row) {
    if (!p.positions) return;
    const int64_t q = p.positions[(row / p.H) % p.T];
    if (q == pos) return;
    pos = q;
#pragma unroll
    for (int m = 0; m < M; ++m) sincosf(static_cast<float>(q) * freq[m], &s[m], &c[m]);
  }
};

template <int K>
__global__ void __launch_bounds__(kWarps * 32) norm_rope_fwd_kernel(NormRopeParams p) {
  const int lane = threadIdx.x % 32;
  const int64_t first = (static_cast<int64_t>(blockIdx.x) * kWarps + threadIdx.x / 32) * kRowsPerWarp;
  Rotation<K> rot(p, lane);
  for (int64_t row = first; row < min(first + kRowsPerWarp, p.rows); ++row) {
    const bf16_bits* x = p.x + row * K;
    Row<K> r;
    float ss = 0.f;
#pragma unroll
    for (int m = 0; m < Row<K>::M; ++m) {
      r.a[m] = load_bf16(x + lane + 32 * m);
      r.b[m] = load_bf16(x + lane + 32 * m + K / 2);
      ss += r.a[m] * r.a[m] + r.b[m] * r.b[m];
    }
    if (p.w) {
      const float rstd = rsqrtf(warp_sum(ss) / K + p.eps);
#pragma unroll
      for (int m = 0; m < Row<K>::M; ++m) {
        r.a[m] = round_bf16(r.a[m] * rstd * p.w[lane + 32 * m]);
        r.b[m] = round_bf16(r.b[m] * rstd * p.w[lane + 32 * m + K / 2]);
      }
    }
    rot.at_row(p, row);
    const float *c = rot.c, *s = rot.s;
    bf16_bits* y = p.y + row * K;
#pragma unroll
    for (int m = 0; m < Row<K>::M; ++m) {
      store_bf16(y + lane + 32 * m, r.a[m] * c[m] - r.b[m] * s[m]);
      store_bf16(y + lane + 32 * m + K / 2, r.b[m] * c[m] + r.a[m] * s[m]);
    }
  }
}

template <int K>
__global__ void __launch_bounds__(kWarps * 32) norm_rope_bwd_kernel(NormRopeParams p) {
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int64_t first = (static_cast<int64_t>(blockIdx.x) * kWarps + warp) * kRowsPerWarp;
  float dwa[K / 64] = {}, dwb[K / 64] = {};
  Rotation<K> rot(p, lane);
  for (int64_t row = first; row < min(first + kRowsPerWarp, p.rows); ++row) {
    rot.at_row(p, row);
    const float *c = rot.c, *s = rot.s;
    const bf16_bits* dy = p.dy + row * K;
    Row<K> dn;  // gradient of the rotation's input
#pragma unroll
    for (int m = 0; m < Row<K>::M; ++m) {
      const float ga = load_bf16(dy + lane + 32 * m), gb = load_bf16(dy + lane + 32 * m + K / 2);
      dn.a[m] = ga * c[m] + gb * s[m];
      dn.b[m] = gb * c[m] - ga * s[m];
    }
    bf16_bits* dx = p.dx + row * K;
    if (!p.w) {
#pragma unroll
      for (int m = 0; m < Row<K>::M; ++m) {
        store_bf16(dx + lane + 32 * m, dn.a[m]);
        store_bf16(dx + lane + 32 * m + K / 2, dn.b[m]);
      }
      continue;
    }
    const bf16_bits* x = p.x + row * K;
    Row<K> xr;
    float ss = 0.f, gx = 0.f;
#pragma unroll
    for (int m = 0; m < Row<K>::M; ++m) {
      xr.a[m] = load_bf16(x + lane + 32 * m);
      xr.b[m] = load_bf16(x + lane + 32 * m + K / 2);
      ss += xr.a[m] * xr.a[m] + xr.b[m] * xr.b[m];
      // g = dn * w, and sum(g x) for the normalisation's term
      gx += dn.a[m] * p.w[lane + 32 * m] * xr.a[m] + dn.b[m] * p.w[lane + 32 * m + K / 2] * xr.b[m];
    }
    const float rstd = rsqrtf(warp_sum(ss) / K + p.eps);
    const float coef = warp_sum(gx) / K * rstd * rstd;
#pragma unroll
    for (int m = 0; m < Row<K>::M; ++m) {
      const int j = lane + 32 * m;
      store_bf16(dx + j, rstd * (dn.a[m] * p.w[j] - xr.a[m] * coef));
      store_bf16(dx + j + K / 2, rstd * (dn.b[m] * p.w[j + K / 2] - xr.b[m] * coef));
      dwa[m] += dn.a[m] * xr.a[m] * rstd;
      dwb[m] += dn.b[m] * xr.b[m] * rstd;
    }
  }
  if (!p.w) return;
  __shared__ float part[kWarps][K];
#pragma unroll
  for (int m = 0; m < Row<K>::M; ++m) {
    part[warp][lane + 32 * m] = dwa[m];
    part[warp][lane + 32 * m + K / 2] = dwb[m];
  }
  add_block_columns(part, p.dw);
}

template <int K>
void launch(const NormRopeParams& p, bool backward, cudaStream_t stream) {
  const int64_t rows_per_block = kWarps * kRowsPerWarp;
  const unsigned blocks = static_cast<unsigned>((p.rows + rows_per_block - 1) / rows_per_block);
  if (blocks == 0) return;
  if (backward)
    norm_rope_bwd_kernel<K><<<blocks, kWarps * 32, 0, stream>>>(p);
  else
    norm_rope_fwd_kernel<K><<<blocks, kWarps * 32, 0, stream>>>(p);
}

void dispatch(const NormRopeParams& p, bool backward, cudaStream_t stream) {
  switch (p.K) {
    case 64: launch<64>(p, backward, stream); break;
    case 128: launch<128>(p, backward, stream); break;
    default: break;  // norm_rope_dim_supported() keeps other head dims on the reference path
  }
}

}  // namespace

bool norm_rope_dim_supported(int K) { return K == 64 || K == 128; }

void norm_rope_forward(const NormRopeParams& p, cudaStream_t stream) { dispatch(p, false, stream); }

void norm_rope_backward(const NormRopeParams& p, cudaStream_t stream) { dispatch(p, true, stream); }

}  // namespace oryx::kernels
