// Softmax cross-entropy over rows of bf16 logits, for the fused head loss
// (model/head_loss.cpp): one pass to read a chunk's logits, one to turn them into their
// gradient in place, instead of libtorch's fp32 copies, log-sum-exp, exp and scatter
// passes. Statistics in fp32.
//   forward   lse[i] = log sum_v exp(x[i,v]),   target_logit[i] = x[i, t_i]
//   backward  x[i,v] <- (exp(x[i,v] - lse[i]) - [v == t_i]) * scale[i]     (bf16, in place)
// One block of kThreads per row; the forward keeps an online (max, sum) per thread and
// merges them across the block.
#include <cuda_bf16.h>

#include "oryx/kernels/cross_entropy.h"

namespace oryx::kernels {

namespace {

constexpr int kThreads = 512;

__device__ __forceinline__ float to_float(bf16_bits b) {
  return __bfloat162float(*reinterpret_cast<const __nv_bfloat16*>(&b));
}

// Merges (m, s) pairs: the log-sum-exp of two partial sums.
__device__ __forceinline__ void merge(float& m, float& s, float m2, float s2) {
  float mm = fmaxf(m, m2);
  if (mm == -INFINITY) return;
  s = s * __expf(m - mm) + s2 * __expf(m2 - mm);
  m = mm;
}

__global__ void __launch_bounds__(kThreads) ce_forward_kernel(CrossEntropyParams p) {
  const int64_t row = blockIdx.x;
  const bf16_bits* x = p.logits + row * p.V;
  float m = -INFINITY, s = 0.f;
  for (int v = threadIdx.x; v < p.V; v += kThreads) {
    float xv = to_float(x[v]);
    if (xv > m) {
      s = s * __expf(m - xv) + 1.f;
      m = xv;
    } else {
      s += __expf(xv - m);
    }
  }
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) {
    float m2 = __shfl_xor_sync(0xffffffff, m, off), s2 = __shfl_xor_sync(0xffffffff, s, off);
    merge(m, s, m2, s2);
  }
  __shared__ float sm[kThreads / 32], ss[kThreads / 32];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane == 0) {
    sm[warp] = m;
    ss[warp] = s;
  }
  __syncthreads();
  if (warp == 0) {
    m = lane < kThreads / 32 ? sm[lane] : -INFINITY;
    s = lane < kThreads / 32 ? ss[lane] : 0.f;
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) {
      float m2 = __shfl_xor_sync(0xffffffff, m, off), s2 = __shfl_xor_sync(0xffffffff, s, off);
      merge(m, s, m2, s2);
    }
    if (lane == 0) {
      p.lse[row] = m + logf(s);
      p.target_logit[row] = to_float(x[p.targets[row]]);
    }
  }
}

__global__ void __launch_bounds__(kThreads) ce_backward_kernel(CrossEntropyParams p) {
  const int64_t row = blockIdx.x;
  bf16_bits* x = p.logits_mut + row * p.V;
  const float lse = p.lse[row], scale = p.scale[row];
  const int64_t target = p.targets[row];
  for (int v = threadIdx.x; v < p.V; v += kThreads) {
    float g = (__expf(to_float(x[v]) - lse) - (v == target ? 1.f : 0.f)) * scale;
    __nv_bfloat16 b = __float2bfloat16(g);
    x[v] = *reinterpret_cast<bf16_bits*>(&b);
  }
}

}  // namespace

void cross_entropy_forward(const CrossEntropyParams& p, cudaStream_t stream) {
  if (p.N > 0) ce_forward_kernel<<<static_cast<unsigned>(p.N), kThreads, 0, stream>>>(p);
}

void cross_entropy_backward(const CrossEntropyParams& p, cudaStream_t stream) {
  if (p.N > 0) ce_backward_kernel<<<static_cast<unsigned>(p.N), kThreads, 0, stream>>>(p);
}

}  // namespace oryx::kernels
