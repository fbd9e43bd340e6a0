// The residual stream's add + RMSNorm in one pass (add_norm.h has the formulas): the layer's
// h + branch output (fp32 + bf16), the norm's statistics and the bf16 operand of the next
// matmuls, where the unfused path runs an add, an fp32 norm and a cast, and in the backward a
// norm backward, a gradient sum and a cast. One warp per row, two adjacent values a lane
// (8-byte fp32 and 4-byte bf16 accesses); dw is summed per block in shared memory and added
// with one atomicAdd per block and column.
#include <cuda_bf16.h>

#include <utility>

#include "oryx/kernels/add_norm.h"
#include "oryx/kernels/device_common.cuh"

namespace oryx::kernels {

namespace {

constexpr int kWarps = 8;
// Rows per warp: few in the forward, so that enough warps (and loads) are in flight for the
// memory system; more in the backward, whose blocks each end with one atomicAdd per column.
constexpr int kRowsPerWarpForward = 2;
constexpr int kRowsPerWarpBackward = 4;

__device__ __forceinline__ float2 load_bf16x2(const bf16_bits* p) {
  return __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(p));
}
__device__ __forceinline__ void store_bf16x2(bf16_bits* p, float a, float b) {
  *reinterpret_cast<__nv_bfloat162*>(p) = __floats2bfloat162_rn(a, b);
}

// Column of the first of a lane's two values in its m-th pair.
__device__ __forceinline__ int column(int lane, int m) { return 2 * lane + 64 * m; }

template <int D>
__global__ void __launch_bounds__(kWarps * 32) add_norm_fwd_kernel(AddNormParams p) {
  constexpr int M = D / 64;
  const int lane = threadIdx.x % 32;
  const int64_t first = (static_cast<int64_t>(blockIdx.x) * kWarps + threadIdx.x / 32) * kRowsPerWarpForward;
  for (int64_t row = first; row < min(first + kRowsPerWarpForward, p.rows); ++row) {
    float2 s[M];
    float ss = 0.f;
#pragma unroll
    for (int m = 0; m < M; ++m) {
      const int64_t i = row * D + column(lane, m);
      s[m] = *reinterpret_cast<const float2*>(p.h + i);
      if (p.delta) {
        const float2 d = load_bf16x2(p.delta + i);
        s[m].x += d.x;
        s[m].y += d.y;
        *reinterpret_cast<float2*>(p.sum + i) = s[m];
      }
      ss += s[m].x * s[m].x + s[m].y * s[m].y;
    }
    const float rstd = rsqrtf(warp_sum(ss) / D + p.eps);
    if (lane == 0) p.rstd[row] = rstd;
#pragma unroll
    for (int m = 0; m < M; ++m) {
      const int j = column(lane, m);
      const float2 w = *reinterpret_cast<const float2*>(p.w + j);
      store_bf16x2(p.x + row * D + j, s[m].x * rstd * w.x, s[m].y * rstd * w.y);
    }
  }
}

template <int D>
__global__ void __launch_bounds__(kWarps * 32) add_norm_bwd_kernel(AddNormParams p) {
  constexpr int M = D / 64;
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int64_t first = (static_cast<int64_t>(blockIdx.x) * kWarps + warp) * kRowsPerWarpBackward;
  const float* sum = p.sum ? p.sum : p.h;  // the forward's h + delta, or h without delta
  float2 dw[M] = {};
  for (int64_t row = first; row < min(first + kRowsPerWarpBackward, p.rows); ++row) {
    const float rstd = p.rstd[row];
    float2 n[M], g[M];
    float gn = 0.f;
#pragma unroll
    for (int m = 0; m < M; ++m) {
      const int j = column(lane, m);
      const int64_t i = row * D + j;
      const float2 s = *reinterpret_cast<const float2*>(sum + i);
      const float2 dy = load_bf16x2(p.dx + i);
      const float2 w = *reinterpret_cast<const float2*>(p.w + j);
      n[m] = make_float2(s.x * rstd, s.y * rstd);
      g[m] = make_float2(dy.x * w.x, dy.y * w.y);
      dw[m].x += dy.x * n[m].x;
      dw[m].y += dy.y * n[m].y;
      gn += g[m].x * n[m].x + g[m].y * n[m].y;
    }
    const float mean_gn = warp_sum(gn) / D;
#pragma unroll
    for (int m = 0; m < M; ++m) {
      const int64_t i = row * D + column(lane, m);
      float2 d = make_float2(rstd * (g[m].x - n[m].x * mean_gn), rstd * (g[m].y - n[m].y * mean_gn));
      if (p.dsum) {
        const float2 ds = *reinterpret_cast<const float2*>(p.dsum + i);
        d.x += ds.x;
        d.y += ds.y;
      }
      *reinterpret_cast<float2*>(p.dh + i) = d;
      if (p.ddelta) store_bf16x2(p.ddelta + i, d.x, d.y);
    }
  }
  __shared__ float part[kWarps][D];
#pragma unroll
  for (int m = 0; m < M; ++m) {
    part[warp][column(lane, m)] = dw[m].x;
    part[warp][column(lane, m) + 1] = dw[m].y;
  }
  add_block_columns(part, p.dw);
}

template <int D>
void launch(const AddNormParams& p, bool backward, cudaStream_t stream) {
  const int64_t rows_per_block = kWarps * (backward ? kRowsPerWarpBackward : kRowsPerWarpForward);
  const unsigned blocks = static_cast<unsigned>((p.rows + rows_per_block - 1) / rows_per_block);
  if (blocks == 0) return;
  if (backward)
    add_norm_bwd_kernel<D><<<blocks, kWarps * 32, 0, stream>>>(p);
  else
    add_norm_fwd_kernel<D><<<blocks, kWarps * 32, 0, stream>>>(p);
}

template <int... Ds>
void dispatch(const AddNormParams& p, bool backward, cudaStream_t stream, std::integer_sequence<int, Ds...>) {
  // add_norm_dim_supported() keeps other widths on the unfused path.
  ((p.D == 64 * (Ds + 1) ? launch<64 * (Ds + 1)>(p, backward, stream) : void()), ...);
}

void dispatch(const AddNormParams& p, bool backward, cudaStream_t stream) {
  dispatch(p, backward, stream, std::make_integer_sequence<int, 16>{});
}

}  // namespace

bool add_norm_dim_supported(int D) { return D >= 64 && D <= 1024 && D % 64 == 0; }

void add_norm_forward(const AddNormParams& p, cudaStream_t stream) { dispatch(p, false, stream); }

void add_norm_backward(const AddNormParams& p, cudaStream_t stream) { dispatch(p, true, stream); }

}  // namespace oryx::kernels
