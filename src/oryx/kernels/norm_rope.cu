// Per-head RMSNorm with gain followed by rotary position embedding (rotate-half form): the
// attention's q and k (QK-norm + RoPE) in one pass over bf16 rows [rows = B*T*H, K], where
// the reference runs about fifteen fp32 elementwise ops and a concatenation.
//   n = bf16( x * rsqrt(mean(x^2) + eps) * w )        (rounded as the reference's norm output)
//   y[j]       = n[j] cos(p f_j) - n[j+K/2] sin(p f_j)
//   y[j+K/2]   = n[j+K/2] cos(p f_j) + n[j] sin(p f_j),   f_j = theta^(-2j/K), p the position
// Without positions the rotation is the identity (the norm alone, for GDN's L2 norms).
// One warp per row; lane l holds E = K/32 consecutive elements (one 8-byte load at K = 128,
// 4 bytes at K = 64): lanes 0-15 the first half, lanes 16-31 the second, so each element's
// rotation partner sits in lane l ^ 16 at the same slot (one shuffle), and a row is one
// load and one store instruction per tensor (scalar 2-byte accesses took four, and ran at
// 1.3 to 1.6 TB/s on an H200). Angles, cos and sin in fp32 (sincosf, exact range reduction:
// positions reach 32768), once per position: the H rows of a token share it. (Splitting the
// angles between partner lanes, half the sincosf calls and an exchange, was slower.)
// The backward rotates dy back, then applies RMSNorm's backward; dw is summed per block in
// shared memory and added with one atomicAdd per block and column.
#include <cuda_bf16.h>

#include "oryx/kernels/norm_rope.h"
#include "oryx/kernels/device_common.cuh"

namespace oryx::kernels {

namespace {

constexpr int kWarps = 8;
constexpr int kRowsPerWarp = 16;

// The lane's share of a row: elements lane * E .. lane * E + E - 1.
template <int K>
struct Lane {
  static constexpr int E = K / 32;
  int lane, first;
  float sign;  // y = n c + sign * partner s: -1 in the first half, +1 in the second
  __device__ __forceinline__ explicit Lane(int l) : lane(l), first(l * E), sign(l < 16 ? -1.f : 1.f) {}
};

// The rotation of the warp's current row. The frequencies are per lane constants; cos and
// sin are recomputed only when the position changes, and the token of each row is tracked
// by counting heads (no division per row).
template <int K>
struct Rotation {
  static constexpr int E = K / 32;
  float freq[E], c[E], s[E];
  int64_t pos = -1;
  int64_t t = 0;  // the row's time index
  int h = 0;      // the row's head

  __device__ __forceinline__ Rotation(const NormRopeParams& p, const Lane<K>& ln, int64_t first_row) {
#pragma unroll
    for (int e = 0; e < E; ++e) {
      const int j = (ln.first + e) % (K / 2);  // the pair's index within its half
      freq[e] = p.positions ? powf(p.theta, -2.f * j / K) : 0.f;
      c[e] = 1.f;  // without positions: the identity rotation
      s[e] = 0.f;
    }
    t = (first_row / p.H) % p.T;
    h = static_cast<int>(first_row % p.H);
  }

  // Moves to the warp's next row (rows are visited in order).
  __device__ __forceinline__ void next_row(const NormRopeParams& p) {
    if (++h == p.H) {
      h = 0;
      if (++t == p.T) t = 0;
    }
  }

  __device__ __forceinline__ void update(const NormRopeParams& p) {
    if (!p.positions) return;
    const int64_t q = p.positions[t];
    if (q == pos) return;
    pos = q;
#pragma unroll
    for (int e = 0; e < E; ++e) sincosf(static_cast<float>(q) * freq[e], &s[e], &c[e]);
  }
};

template <int K>
__global__ void __launch_bounds__(kWarps * 32) norm_rope_fwd_kernel(NormRopeParams p) {
  constexpr int E = K / 32;
  const Lane<K> ln(threadIdx.x % 32);
  const int64_t first = (static_cast<int64_t>(blockIdx.x) * kWarps + threadIdx.x / 32) * kRowsPerWarp;
  if (first >= p.rows) return;
  Rotation<K> rot(p, ln, first);
  float w[E];
#pragma unroll
  for (int e = 0; e < E; ++e) w[e] = p.w ? p.w[ln.first + e] : 1.f;
  const int64_t last = min(first + kRowsPerWarp, p.rows);
  for (int64_t row = first; row < last; ++row, rot.next_row(p)) {
    Vec<E> n = load_vec<E>(p.x + row * K + ln.first);
    if (p.w) {
      float ss = 0.f;
#pragma unroll
      for (int e = 0; e < E; ++e) ss += n.v[e] * n.v[e];
      const float rstd = rsqrtf(warp_sum(ss) / K + p.eps);
#pragma unroll
      for (int e = 0; e < E; ++e) n.v[e] = round_bf16(n.v[e] * rstd * w[e]);
    }
    rot.update(p);
    Vec<E> y;
#pragma unroll
    for (int e = 0; e < E; ++e) {
      const float partner = __shfl_xor_sync(0xffffffff, n.v[e], 16);
      y.v[e] = n.v[e] * rot.c[e] + ln.sign * partner * rot.s[e];
    }
    store_vec<E>(p.y + row * K + ln.first, y);
  }
}

template <int K>
__global__ void __launch_bounds__(kWarps * 32) norm_rope_bwd_kernel(NormRopeParams p) {
  constexpr int E = K / 32;
  const int warp = threadIdx.x / 32;
  const Lane<K> ln(threadIdx.x % 32);
  const int64_t first = (static_cast<int64_t>(blockIdx.x) * kWarps + warp) * kRowsPerWarp;
  float dw[E] = {}, w[E];
#pragma unroll
  for (int e = 0; e < E; ++e) w[e] = p.w ? p.w[ln.first + e] : 1.f;
  if (first < p.rows) {
    Rotation<K> rot(p, ln, first);
    const int64_t last = min(first + kRowsPerWarp, p.rows);
    for (int64_t row = first; row < last; ++row, rot.next_row(p)) {
      const Vec<E> g = load_vec<E>(p.dy + row * K + ln.first);
      Vec<E> x;
      if (p.w) x = load_vec<E>(p.x + row * K + ln.first);
      rot.update(p);
      Vec<E> dn;  // gradient of the rotation's input: the inverse rotation of dy
#pragma unroll
      for (int e = 0; e < E; ++e) {
        const float partner = __shfl_xor_sync(0xffffffff, g.v[e], 16);
        dn.v[e] = g.v[e] * rot.c[e] - ln.sign * partner * rot.s[e];
      }
      if (!p.w) {
        store_vec<E>(p.dx + row * K + ln.first, dn);
        continue;
      }
      float ss = 0.f, gx = 0.f;  // sum(x^2), and sum(dn w x) for the normalisation's term
#pragma unroll
      for (int e = 0; e < E; ++e) {
        ss += x.v[e] * x.v[e];
        gx += dn.v[e] * w[e] * x.v[e];
      }
      const float rstd = rsqrtf(warp_sum(ss) / K + p.eps);
      const float coef = warp_sum(gx) / K * rstd * rstd;
      Vec<E> dx;
#pragma unroll
      for (int e = 0; e < E; ++e) {
        dx.v[e] = rstd * (dn.v[e] * w[e] - x.v[e] * coef);
        dw[e] += dn.v[e] * x.v[e] * rstd;
      }
      store_vec<E>(p.dx + row * K + ln.first, dx);
    }
  }
  if (!p.w) return;
  __shared__ float part[kWarps][K];
#pragma unroll
  for (int e = 0; e < E; ++e) part[warp][ln.first + e] = dw[e];
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
