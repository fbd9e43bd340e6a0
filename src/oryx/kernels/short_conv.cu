// Causal depthwise short convolution along time (the layer's ShortConv of k, v and q) on bf16
// activations laid out [B,T,C], forward and backward, without the zero padding, the two
// transposes and the contiguous copies torch's conv1d path needs:
//   forward   y[b,t,c]  = sum_j w[c,j] x[b, t-(W-1)+j, c]          (x before t = 0 is zero)
//   backward  dx[b,s,c] = sum_j w[c,j] dy[b, s+(W-1)-j, c]         (dy past T - 1 is zero)
//             dw[c,j]   = sum_{b,t} dy[b,t,c] x[b, t-(W-1)+j, c]
// With `silu` the output is SiLU(y) (the layer's activation after the k/v/q convolutions),
// and the backward recomputes y from x to apply SiLU's derivative first. The decoding step
// (one token, a carried window) is one kernel too: it reads the window and shifts it in place.
// One thread per V channels (V = 2 when C is even: one 32-bit load per row covers both) walks
// a tile of kTile time steps with a window of inputs (and, in the backward, of output
// gradients) in registers: every element is loaded once per tile, neighbouring threads read
// neighbouring channels (coalesced). The tile is walked kAhead steps at a time, their loads
// issued together: one dependent load per step left a warp with too few bytes in flight to
// cover DRAM latency (the backward ran at a sixth of the bandwidth on an H200). Products
// accumulate in fp32; dw is summed per thread over its tile into a partial per tile, which the
// caller sums over tiles (kernels/conv_ops.cpp): no atomics, so dw does not depend on the
// order blocks finish in.
#include <cuda_bf16.h>

#include "oryx/kernels/short_conv.h"
#include "oryx/kernels/device_common.cuh"

namespace oryx::kernels {

namespace {

constexpr int kThreads = 128;
constexpr int kTile = 64;
constexpr int kAhead = 4;  // time steps whose loads are in flight together

// V consecutive bf16 values as floats (V = 2: one 32-bit access, the address 4-byte aligned).
template <int V>
__device__ __forceinline__ void load_row(const bf16_bits* p, float (&out)[V]) {
  if constexpr (V == 2) {
    const Vec<2> v = load_vec<2>(p);
    out[0] = v.v[0];
    out[1] = v.v[1];
  } else {
    out[0] = load_bf16(p);
  }
}

template <int V>
__device__ __forceinline__ void store_row(bf16_bits* p, const float (&in)[V]) {
  if constexpr (V == 2) {
    store_vec<2>(p, Vec<2>{{in[0], in[1]}});
  } else {
    store_bf16(p, in[0]);
  }
}

template <int W, bool SILU, int V>
__global__ void __launch_bounds__(kThreads) short_conv_fwd_kernel(ShortConvParams p) {
  const int c = (blockIdx.x * kThreads + threadIdx.x) * V;
  if (c >= p.C) return;
  const int t0 = blockIdx.y * kTile, t1 = min(p.T, t0 + kTile);
  const size_t base = static_cast<size_t>(blockIdx.z) * p.T * p.C + c;
  // win[v][j]: x at t - (W-1) + j for the kAhead steps t of this round.
  float w[V][W], win[V][W - 1 + kAhead];
#pragma unroll
  for (int v = 0; v < V; ++v)
#pragma unroll
    for (int j = 0; j < W; ++j) w[v][j] = load_bf16(p.w + (c + v) * W + j);
#pragma unroll
  for (int j = 0; j < W - 1; ++j) {
    const int t = t0 - (W - 1) + j;
    float row[V] = {};
    if (t >= 0) load_row<V>(p.x + base + static_cast<size_t>(t) * p.C, row);
#pragma unroll
    for (int v = 0; v < V; ++v) win[v][j] = row[v];
  }
  for (int t = t0; t < t1; t += kAhead) {
#pragma unroll
    for (int u = 0; u < kAhead; ++u) {
      float row[V] = {};
      if (t + u < t1) load_row<V>(p.x + base + static_cast<size_t>(t + u) * p.C, row);
#pragma unroll
      for (int v = 0; v < V; ++v) win[v][W - 1 + u] = row[v];
    }
#pragma unroll
    for (int u = 0; u < kAhead; ++u) {
      if (t + u >= t1) break;
      float out[V];
#pragma unroll
      for (int v = 0; v < V; ++v) {
        float acc = 0.f;
#pragma unroll
        for (int j = 0; j < W; ++j) acc = fmaf(w[v][j], win[v][u + j], acc);
        out[v] = SILU ? acc * sigmoid(acc) : acc;
      }
      store_row<V>(p.y + base + static_cast<size_t>(t + u) * p.C, out);
    }
#pragma unroll
    for (int v = 0; v < V; ++v)
#pragma unroll
      for (int j = 0; j < W - 1; ++j) win[v][j] = win[v][j + kAhead];
  }
}

// For steps s of a round (kAhead of them) the window xw holds x[s0-(W-1) .. s0+kAhead+W-2]
// and gw the output gradients dy[s0 .. s0+kAhead+W-2], taken through SiLU's derivative at
// their pre-activations (y at u reads x[u-(W-1) .. u], which xw covers).
// At most 64 registers a thread, so that 8 blocks fit an SM: a B8 x T2048 backward (1,024
// blocks) then runs in one wave on an H200's 132 SMs; at 70 registers 7 fit, and the 100
// blocks left over took a second wave.
template <int W, bool SILU, int V>
__global__ void __launch_bounds__(kThreads, 8) short_conv_bwd_kernel(ShortConvParams p) {
  const int c = (blockIdx.x * kThreads + threadIdx.x) * V;
  if (c >= p.C) return;
  const int t0 = blockIdx.y * kTile, t1 = min(p.T, t0 + kTile);
  const size_t base = static_cast<size_t>(blockIdx.z) * p.T * p.C + c;
  constexpr int kX = 2 * W - 2 + kAhead, kG = W - 1 + kAhead;
  float w[V][W], xw[V][kX], gw[V][kG], dw[V][W];
#pragma unroll
  for (int v = 0; v < V; ++v)
#pragma unroll
    for (int j = 0; j < W; ++j) {
      w[v][j] = load_bf16(p.w + (c + v) * W + j);
      dw[v][j] = 0.f;
    }
  auto load_x = [&](int t, int slot) {  // x past either end is zero
    float row[V] = {};
    if (t >= 0 && t < p.T) load_row<V>(p.x + base + static_cast<size_t>(t) * p.C, row);
#pragma unroll
    for (int v = 0; v < V; ++v) xw[v][slot] = row[v];
  };
  auto load_dy = [&](int u, int slot) {  // dy past T - 1 is zero
    float row[V] = {};
    if (u < p.T) load_row<V>(p.dy + base + static_cast<size_t>(u) * p.C, row);
#pragma unroll
    for (int v = 0; v < V; ++v) gw[v][slot] = row[v];
  };
  // gw[slot] *= SiLU'(y) at the position whose inputs start at xw[first].
  auto through_silu = [&](int slot, int first) {
    if (!SILU) return;
#pragma unroll
    for (int v = 0; v < V; ++v) {
      float y = 0.f;
#pragma unroll
      for (int j = 0; j < W; ++j) y = fmaf(w[v][j], xw[v][first + j], y);
      const float sg = sigmoid(y);
      gw[v][slot] *= sg * (1.f + y * (1.f - sg));
    }
  };
#pragma unroll
  for (int j = 0; j < 2 * W - 2; ++j) load_x(t0 - (W - 1) + j, j);
#pragma unroll
  for (int j = 0; j < W - 1; ++j) load_dy(t0 + j, j);
#pragma unroll
  for (int j = 0; j < W - 1; ++j) through_silu(j, j);  // dy[t0+j] reads x[t0+j-(W-1) ..]
  for (int s = t0; s < t1; s += kAhead) {
    // The round's new entries: x and dy at s+W-1 .. s+W-2+kAhead, loaded together.
#pragma unroll
    for (int u = 0; u < kAhead; ++u) {
      load_x(s + W - 1 + u, 2 * W - 2 + u);
      load_dy(s + W - 1 + u, W - 1 + u);
    }
#pragma unroll
    for (int u = 0; u < kAhead; ++u) through_silu(W - 1 + u, W - 1 + u);
#pragma unroll
    for (int u = 0; u < kAhead; ++u) {
      if (s + u >= t1) break;
      float dx[V];
#pragma unroll
      for (int v = 0; v < V; ++v) {
        float acc = 0.f;
#pragma unroll
        for (int j = 0; j < W; ++j) {
          acc = fmaf(w[v][j], gw[v][u + W - 1 - j], acc);
          dw[v][j] = fmaf(gw[v][u], xw[v][u + j], dw[v][j]);
        }
        dx[v] = acc;
      }
      store_row<V>(p.dx + base + static_cast<size_t>(s + u) * p.C, dx);
    }
#pragma unroll
    for (int v = 0; v < V; ++v) {
#pragma unroll
      for (int j = 0; j < 2 * W - 2; ++j) xw[v][j] = xw[v][j + kAhead];
#pragma unroll
      for (int j = 0; j < W - 1; ++j) gw[v][j] = gw[v][j + kAhead];
    }
  }
  float* partial = p.dw_partial + (static_cast<size_t>(blockIdx.z) * gridDim.y + blockIdx.y) * p.C * W;
#pragma unroll
  for (int v = 0; v < V; ++v)
#pragma unroll
    for (int j = 0; j < W; ++j) partial[(c + v) * W + j] = dw[v][j];
}

template <int W>
__global__ void __launch_bounds__(kThreads) short_conv_step_kernel(ShortConvStepParams p) {
  const int i = blockIdx.x * kThreads + threadIdx.x;  // b * C + c
  if (i >= p.B * p.C) return;
  const int b = i / p.C, c = i % p.C;
  bf16_bits* st = p.state + static_cast<size_t>(b) * (W - 1) * p.C + c;
  float win[W];
#pragma unroll
  for (int j = 0; j < W - 1; ++j) win[j] = load_bf16(st + static_cast<size_t>(j) * p.C);
  win[W - 1] = load_bf16(p.x + i);
  float acc = 0.f;
#pragma unroll
  for (int j = 0; j < W; ++j) acc = fmaf(load_bf16(p.w + c * W + j), win[j], acc);
#pragma unroll
  for (int j = 0; j < W - 1; ++j) store_bf16(st + static_cast<size_t>(j) * p.C, win[j + 1]);
  store_bf16(p.y + i, p.silu ? acc * sigmoid(acc) : acc);
}

template <int W, bool SILU, int V>
void launch(const ShortConvParams& p, bool backward, cudaStream_t stream) {
  const int threads_needed = (p.C + V - 1) / V;
  dim3 grid((threads_needed + kThreads - 1) / kThreads, (p.T + kTile - 1) / kTile, p.B);
  if (backward) {
    short_conv_bwd_kernel<W, SILU, V><<<grid, kThreads, 0, stream>>>(p);
  } else {
    short_conv_fwd_kernel<W, SILU, V><<<grid, kThreads, 0, stream>>>(p);
  }
}

// Two channels a thread when every row starts 4-byte aligned (C even, aligned tensors).
bool pairs_aligned(const ShortConvParams& p, bool backward) {
  auto aligned = [](const void* q) { return reinterpret_cast<uintptr_t>(q) % 4 == 0; };
  if (p.C % 2 != 0 || !aligned(p.x)) return false;
  return backward ? aligned(p.dy) && aligned(p.dx) : aligned(p.y);
}

template <int W, bool SILU>
void launch(const ShortConvParams& p, bool backward, cudaStream_t stream) {
  if (pairs_aligned(p, backward))
    launch<W, SILU, 2>(p, backward, stream);
  else
    launch<W, SILU, 1>(p, backward, stream);
}

template <int W>
void launch(const ShortConvParams& p, bool backward, cudaStream_t stream) {
  if (p.silu)
    launch<W, true>(p, backward, stream);
  else
    launch<W, false>(p, backward, stream);
}

void dispatch(const ShortConvParams& p, bool backward, cudaStream_t stream) {
  switch (p.W) {
    case 2: launch<2>(p, backward, stream); break;
    case 3: launch<3>(p, backward, stream); break;
    case 4: launch<4>(p, backward, stream); break;
    default: break;  // short_conv_width_supported() keeps other widths on the reference path
  }
}

}  // namespace

bool short_conv_width_supported(int W) { return W >= 2 && W <= 4; }

int short_conv_backward_tiles(int B, int T) { return B * ((T + kTile - 1) / kTile); }

void short_conv_forward(const ShortConvParams& p, cudaStream_t stream) { dispatch(p, false, stream); }

void short_conv_backward(const ShortConvParams& p, cudaStream_t stream) { dispatch(p, true, stream); }

void short_conv_step(const ShortConvStepParams& p, cudaStream_t stream) {
  const int blocks = (p.B * p.C + kThreads - 1) / kThreads;
  if (blocks == 0) return;
  switch (p.W) {
    case 2: short_conv_step_kernel<2><<<blocks, kThreads, 0, stream>>>(p); break;
    case 3: short_conv_step_kernel<3><<<blocks, kThreads, 0, stream>>>(p); break;
    case 4: short_conv_step_kernel<4><<<blocks, kThreads, 0, stream>>>(p); break;
    default: break;  // short_conv_width_supported() keeps other widths on the reference path
  }
}

}  // namespace oryx::kernels
