// The decoding matrix-vector product (decode_gemv.h). Batch 1 reads each weight once and does
// two flops per two bytes: the product is bound by how many bytes are in flight. Each lane
// issues all its loads of its row (16 bytes each, at most CH of them) at the start, before the
// prologue, so a block keeps 8 warps x 32 lanes x CH x 16 bytes in flight while it normalises
// the input; x sits in shared memory as bf16, the sums are fp32, one warp-wide reduction a row.
// Launched as a programmatic dependent (device_common.cuh), the weight loads are issued before
// waiting for the kernel that produces x: they overlap its tail.
#include <cuda_bf16.h>

#include <cstdint>
#include <cstdlib>
#include <string>

#include "oryx/kernels/decode_gemv.h"
#include "oryx/kernels/device_common.cuh"

namespace oryx::kernels {

namespace {

constexpr int kWarps = 8;
constexpr int kThreads = kWarps * 32;

__device__ __forceinline__ float lo_bf16(uint32_t u) { return __uint_as_float(u << 16); }
__device__ __forceinline__ float hi_bf16(uint32_t u) { return __uint_as_float(u & 0xffff0000u); }

// acc + the dot product of eight bf16 pairs.
__device__ __forceinline__ float dot8(const uint4& w, const uint4& x, float acc) {
  acc = fmaf(lo_bf16(w.x), lo_bf16(x.x), acc);
  acc = fmaf(hi_bf16(w.x), hi_bf16(x.x), acc);
  acc = fmaf(lo_bf16(w.y), lo_bf16(x.y), acc);
  acc = fmaf(hi_bf16(w.y), hi_bf16(x.y), acc);
  acc = fmaf(lo_bf16(w.z), lo_bf16(x.z), acc);
  acc = fmaf(hi_bf16(w.z), hi_bf16(x.z), acc);
  acc = fmaf(lo_bf16(w.w), lo_bf16(x.w), acc);
  return fmaf(hi_bf16(w.w), hi_bf16(x.w), acc);
}

// x of the product in shared memory: the input as given, or the residual add and RMSNorm.
template <int NB>
__device__ __forceinline__ void stage_input(const DecodeGemvParams& p, bf16_bits* xs) {
  const int D = p.D;
  if (!p.norm_w) {
    const int vectors = p.B * D / 8;
    for (int i = threadIdx.x; i < vectors; i += kThreads)
      reinterpret_cast<uint4*>(xs)[i] = reinterpret_cast<const uint4*>(p.x)[i];
    return;
  }
  __shared__ float scratch[kWarps][NB];
  float ss[NB];
#pragma unroll
  for (int b = 0; b < NB; ++b) {
    ss[b] = 0.f;
    if (b >= p.B) continue;
    for (int i = threadIdx.x; i < D; i += kThreads) {
      float s = load_bf16(p.h + b * D + i);
      if (p.delta) s = round_bf16(s + load_bf16(p.delta + b * D + i));
      store_bf16(xs + b * D + i, s);
      ss[b] += s * s;
    }
  }
  block_sums(ss, scratch);
#pragma unroll
  for (int b = 0; b < NB; ++b) {
    if (b >= p.B) continue;
    const float rstd = rsqrtf(ss[b] / D + p.eps);
    for (int i = threadIdx.x; i < D; i += kThreads) {  // each thread rereads only what it wrote
      const float s = load_bf16(xs + b * D + i);
      if (blockIdx.x == 0 && p.delta) store_bf16(p.sum + b * D + i, s);
      store_bf16(xs + b * D + i, s * rstd * p.norm_w[i]);
    }
  }
}

template <int NB, int CH, int RPW>
__global__ void __launch_bounds__(kThreads) decode_gemv_kernel(DecodeGemvParams p) {
  extern __shared__ __align__(16) bf16_bits xs[];  // [NB, D]
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int chunks = p.D / 8;
  const int64_t row0 = (static_cast<int64_t>(blockIdx.x) * kWarps + warp) * RPW;
  uint4 wr[RPW][CH];
#pragma unroll
  for (int r = 0; r < RPW; ++r)
#pragma unroll
    for (int c = 0; c < CH; ++c) {
      const int ci = lane + c * 32;
      const int64_t n = row0 + r;
      wr[r][c] = n < p.N && ci < chunks ? __ldg(reinterpret_cast<const uint4*>(p.w + n * p.D) + ci)
                                        : make_uint4(0u, 0u, 0u, 0u);
    }
  wait_for_predecessor();  // the weights above stream while the previous kernel finishes
  stage_input<NB>(p, xs);
  __syncthreads();

  float acc[RPW][NB];
#pragma unroll
  for (int r = 0; r < RPW; ++r)
#pragma unroll
    for (int b = 0; b < NB; ++b) acc[r][b] = 0.f;
#pragma unroll
  for (int c = 0; c < CH; ++c) {
    const int ci = lane + c * 32;
    if (ci >= chunks) break;
#pragma unroll
    for (int b = 0; b < NB; ++b) {
      if (b >= p.B) break;
      const uint4 xv = reinterpret_cast<const uint4*>(xs + b * p.D)[ci];
#pragma unroll
      for (int r = 0; r < RPW; ++r) acc[r][b] = dot8(wr[r][c], xv, acc[r][b]);
    }
  }
#pragma unroll
  for (int r = 0; r < RPW; ++r)
#pragma unroll
    for (int b = 0; b < NB; ++b) acc[r][b] = warp_sum(acc[r][b]);
  if (lane != 0) return;
#pragma unroll
  for (int b = 0; b < NB; ++b) {
    if (b >= p.B) break;
    if (p.out == GemvOut::SwigluPairs) {
      if (RPW == 2 && row0 + 1 < p.N) {
        const float g = round_bf16(acc[0][b]), u = round_bf16(acc[RPW - 1][b]);
        store_bf16(static_cast<bf16_bits*>(p.y) + b * (p.N / 2) + row0 / 2, g * sigmoid(g) * u);
      }
      continue;
    }
#pragma unroll
    for (int r = 0; r < RPW; ++r) {
      const int64_t n = row0 + r;
      if (n >= p.N) break;
      if (p.out == GemvOut::LogitsF32) static_cast<float*>(p.y)[b * p.N + n] = round_bf16(acc[r][b]);
      else store_bf16(static_cast<bf16_bits*>(p.y) + b * p.N + n, acc[r][b]);
    }
  }
}

template <int NB, int CH, int RPW>
void launch(const DecodeGemvParams& p, cudaStream_t stream) {
  const int64_t rows_per_block = kWarps * RPW;
  const int blocks = static_cast<int>((p.N + rows_per_block - 1) / rows_per_block);
  const size_t smem = static_cast<size_t>(NB) * p.D * sizeof(bf16_bits);
  launch_after_predecessor(decode_gemv_kernel<NB, CH, RPW>, dim3(blocks), dim3(kThreads), smem, stream, p);
}

// Two rows a warp for SwiGLU pairs, and for products of many rows: one row a warp there is
// more blocks than fit the GPU at once (about four of 256 threads a multiprocessor), and the
// few left over wait for a second wave.
template <int NB, int CH>
void launch_rows(const DecodeGemvParams& p, cudaStream_t stream) {
  if (p.out == GemvOut::SwigluPairs || p.N >= 2048) launch<NB, CH, 2>(p, stream);
  else launch<NB, CH, 1>(p, stream);
}

template <int NB>
void launch_chunks(const DecodeGemvParams& p, cudaStream_t stream) {
  const int per_lane = (p.D / 8 + 31) / 32;
  if (per_lane <= 4) launch_rows<NB, 4>(p, stream);
  else if (per_lane <= 8) launch_rows<NB, 8>(p, stream);
  else launch_rows<NB, 16>(p, stream);
}

}  // namespace

bool decode_pdl_enabled() {
  static const bool enabled = [] {
    const char* env = std::getenv("ORYX_DECODE_PDL");
    return !(env && std::string(env) == "0");
  }();
  return enabled;
}

bool decode_gemv_supported(int B, int D) { return B >= 1 && B <= 4 && D % 8 == 0 && D > 0 && D <= 4096; }

void decode_gemv(const DecodeGemvParams& p, cudaStream_t stream) {
  if (p.N == 0) return;
  if (p.B == 1) launch_chunks<1>(p, stream);
  else if (p.B == 2) launch_chunks<2>(p, stream);
  else launch_chunks<4>(p, stream);
}

}  // namespace oryx::kernels
