// The fused decoding kernels (decode_layer.h). A decoding step at batch 1 is bound by the
// number of kernels, not by bytes: the step path runs about sixty a layer, each a few
// microseconds of launch and tail for a few kilobytes of work. With the matrix-vector kernels
// (decode_gemv.cu) a layer in mode L is five; with cuBLAS's products (more than four
// sequences) eight, add + norm and SwiGLU being kernels of their own here.
//
// decode_mixer: one block of 256 threads per (sequence, head). The block first issues every
// global load it can before its predecessor ends: its head's recurrent state (K x V fp32, in
// registers: V / 4 threads across the columns, 16 bytes each, 256 / (V / 4) row slices), the
// convolution windows and the parameters; then, after the wait, this token's projections.
// The convolutions, norms and the KV append run from shared memory; then it reduces q^T S and
// k^T S over the slices, forms o and the update as kernels/step.cu does, and writes the state
// back. The roundings to bf16 are the step path's: after each convolution (with its SiLU),
// after each norm, after the rotation, o after the recurrence, and the GatedRMSNorm's output.
#include <cuda_bf16.h>

#include <algorithm>

#include "oryx/kernels/decode_layer.h"
#include "oryx/kernels/device_common.cuh"

namespace oryx::kernels {

namespace {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;

// One channel's short-convolution step, as kernels/short_conv.cu's step kernel computes it:
// the window (W-1 earlier inputs, oldest first, row stride C), the new input x and the taps,
// summed oldest first. Loaded first (conv_load), computed and the window shifted in place
// later (conv_finish), so that the loads of every channel and part share one trip to memory.
struct ConvIn {
  float win[3], w[4], x;
};

// The window and taps (the new input x is read after the wait for its producer).
__device__ __forceinline__ ConvIn conv_load(const bf16_bits* w, const bf16_bits* window, int C, int c, int W) {
  ConvIn in;
#pragma unroll
  for (int j = 0; j < 3; ++j) in.win[j] = j < W - 1 ? load_bf16(window + j * C + c) : 0.f;
#pragma unroll
  for (int j = 0; j < 4; ++j) in.w[j] = j < W ? load_bf16(w + c * W + j) : 0.f;
  in.x = 0.f;
  return in;
}

// The bf16-rounded output (with SiLU when asked); writes the shifted window.
__device__ __forceinline__ float conv_finish(const ConvIn& in, bf16_bits* window, int C, int c, int W, bool silu) {
  float acc = 0.f;
#pragma unroll
  for (int j = 0; j < 3; ++j)
    if (j < W - 1) acc = fmaf(in.w[j], in.win[j], acc);
#pragma unroll
  for (int j = 0; j < 4; ++j)
    if (j == W - 1) acc = fmaf(in.w[j], in.x, acc);
#pragma unroll
  for (int j = 0; j < 3; ++j)
    if (j < W - 1) store_bf16(window + j * C + c, j + 1 < W - 1 ? in.win[j + 1] : in.x);
  return round_bf16(silu ? acc * sigmoid(acc) : acc);
}

// torch's softplus (beta 1, threshold 20).
__device__ __forceinline__ float softplus(float x) { return x > 20.f ? x : log1pf(expf(x)); }

// The rotate-half RoPE of element i of a head of K (n in shared memory), as
// kernels/norm_rope.cu computes it.
template <int K>
__device__ __forceinline__ float rotate(const float* n, int i, int64_t pos, float theta) {
  const int j = i % (K / 2);
  const float freq = powf(theta, -2.f * j / K);
  float s, c;
  sincosf(static_cast<float>(pos) * freq, &s, &c);
  return i < K / 2 ? n[i] * c - n[i + K / 2] * s : n[i] * c + n[i - K / 2] * s;
}

// Thread t < K works on element t of the head's k, q_L and attention query, thread K + c on
// element c of v, of the output gate and of the output; the state's columns are split as in
// kernels/step.cu.
template <int K, int V>
__global__ void __launch_bounds__(kThreads, 1) decode_mixer_kernel(DecodeMixerParams p) {
  constexpr int TPR = V / 4;           // threads across the state's columns, 4 each
  constexpr int KS = kThreads / TPR;   // row slices
  constexpr int RPS = K / KS;          // rows per slice
  static_assert(RPS >= 1 && KS * TPR == kThreads && K + V <= kThreads, "decode_mixer: unsupported head dims");
  const int b = blockIdx.x / p.H, h = blockIdx.x % p.H, tid = threadIdx.x;
  const int col = (tid % TPR) * 4, slice = tid / TPR;
  const bool lin = p.linear != DecodeLinear::None, gdn = p.linear == DecodeLinear::Gdn;
  const bool attn = p.k_cache != nullptr;
  const bool k_side = tid < K, v_side = tid >= K && tid < K + V;
  const int i = tid, c = tid - K;  // element of the k side, of the v side
  const int HK = p.H * K, HV = p.H * V;
  const bf16_bits* row = p.proj + b * p.proj_stride;
  const int64_t bh = static_cast<int64_t>(b) * p.H + h;

  // 0. Every load first: the state rows, the windows and the parameters (no recent kernel
  // writes them), then, after the wait, this token's projections.
  float* S = lin ? p.state + bh * K * V : nullptr;
  float4 rows[RPS];
  if (lin)
#pragma unroll
    for (int r = 0; r < RPS; ++r) rows[r] = *reinterpret_cast<const float4*>(S + (slice * RPS + r) * V + col);
  bf16_bits* win_k = p.conv_k + static_cast<int64_t>(b) * (p.W - 1) * HK;
  bf16_bits* win_q = lin ? p.conv_q + static_cast<int64_t>(b) * (p.W - 1) * HK : nullptr;
  bf16_bits* win_v = p.conv_v + static_cast<int64_t>(b) * (p.W - 1) * HV;
  ConvIn ck, cq, cv;
  float k_gain = 1.f, q_gain = 1.f, out_gain = 0.f;
  if (k_side) {
    ck = conv_load(p.conv_k_w, win_k, HK, h * K + i, p.W);
    if (lin) cq = conv_load(p.conv_q_w, win_q, HK, h * K + i, p.W);
    if (p.k_norm) k_gain = p.k_norm[i];
    if (p.q_norm) q_gain = p.q_norm[i];
  } else if (v_side) {
    cv = conv_load(p.conv_v_w, win_v, HV, h * V + c, p.W);
    if (p.out_norm) out_gain = p.out_norm[c];
  }
  const int64_t pos = p.lengths[b];
  float a_log = 0.f, dt_bias = 0.f, d_skip = 0.f;
  if (lin) {
    a_log = p.a_log[h];
    dt_bias = p.dt_bias[h];
    if (p.d_skip) d_skip = p.d_skip[h];
  }
  // Then this step's projections, once the product that makes them has finished.
  wait_for_predecessor();
  float qa_raw = 0.f, gate = 0.f, gate_a = 0.f, gate_b = 0.f;
  if (k_side) {
    ck.x = load_bf16(row + p.off_k + h * K + i);
    if (lin) cq.x = load_bf16(row + p.off_q_lin + h * K + i);
    if (p.q_attn) qa_raw = load_bf16(row + p.off_q_attn + h * K + i);
  } else if (v_side) {
    cv.x = load_bf16(row + p.off_v + h * V + c);
    gate = load_bf16(row + p.off_gate + h * V + c);
  }
  if (lin) {
    gate_a = load_bf16(row + p.off_gates + h);
    if (gdn) gate_b = load_bf16(row + p.off_gates + p.H + h);
  }

  __shared__ float ks[K], vs[V], qs[K], qa[K], kn[K], os[V], scratch[kWarps][3];
  __shared__ __align__(16) float red_q[KS][V], red_k[KS][V];
  __shared__ float red_qk[KS];
  __shared__ __align__(16) float es[V];

  // 1. The convolution steps (k, v, q_L), and the attention query's raw projection.
  if (k_side) {
    ks[i] = conv_finish(ck, win_k, HK, h * K + i, p.W, p.kv_silu);
    if (lin) qs[i] = conv_finish(cq, win_q, HK, h * K + i, p.W, p.q_lin_silu);
    qa[i] = qa_raw;
  } else if (v_side) {
    vs[c] = conv_finish(cv, win_v, HV, h * V + c, p.W, p.kv_silu);
    if (p.gate_out) store_bf16(p.gate_out + bh * V + c, gate);
  }

  // 2. The norms: L2 of k and q_L, the QK-norm of the query, then of the (normalised) key.
  float sums[3] = {0.f, 0.f, 0.f};
  if (k_side) {
    sums[0] = ks[i] * ks[i];
    if (lin) sums[1] = qs[i] * qs[i];
    if (p.q_attn) sums[2] = qa[i] * qa[i];
  }
  block_sums(sums, scratch);
  float kk = 0.f;
  if (k_side) {
    if (p.k_l2) ks[i] = round_bf16(ks[i] * (rsqrtf(sums[0] / K + p.l2_eps) * p.l2_gain));
    if (lin && p.q_lin_l2) qs[i] = round_bf16(qs[i] * (rsqrtf(sums[1] / K + p.l2_eps) * p.l2_gain));
    if (p.q_attn && p.q_norm) qa[i] = round_bf16(qa[i] * rsqrtf(sums[2] / K + p.norm_eps) * q_gain);
    kk = ks[i] * ks[i];
  }
  if (attn) {
    float key_sum[3] = {kk, 0.f, 0.f};
    if (p.k_l2) block_sums(key_sum, scratch);
    else key_sum[0] = sums[0];
    if (k_side) kn[i] = p.k_norm ? round_bf16(ks[i] * rsqrtf(key_sum[0] / K + p.norm_eps) * k_gain) : ks[i];
  }
  __syncthreads();

  // 3. The KV append (every token, any mode) and the rotated query (mode A).
  if (attn) {
    const int64_t slot = pos < p.capacity ? pos : p.capacity - 1;
    const int64_t at = (static_cast<int64_t>(b) * p.capacity + slot) * p.H + h;
    if (k_side) {
      store_bf16(p.k_cache + at * K + i, p.rope ? rotate<K>(kn, i, pos, p.theta) : kn[i]);
      if (p.q_attn) store_bf16(p.q_attn + bh * K + i, p.rope ? rotate<K>(qa, i, pos, p.theta) : qa[i]);
    } else if (v_side) {
      store_bf16(p.v_cache + at * V + c, vs[c]);
    }
    if (p.key_counts && h == 0 && tid == 0) p.key_counts[b] = slot + 1;
  }
  if (!lin) return;

  // 4. The recurrence (kernels/step.cu's form): S' = a S + k e^T, o = scale (a q^T S + (q.k) e).
  float g, beta;
  if (gdn) {
    g = -expf(a_log) * softplus(gate_a + dt_bias);
    beta = 1.f / (1.f + expf(-gate_b));
  } else {
    beta = softplus(gate_a + dt_bias);
    g = -expf(a_log) * beta;
  }
  const float a = __expf(g);
  float4 pq = {0.f, 0.f, 0.f, 0.f}, pk = {0.f, 0.f, 0.f, 0.f};
  float pqk = 0.f;
#pragma unroll
  for (int r = 0; r < RPS; ++r) {
    const float qv = qs[slice * RPS + r], kv = ks[slice * RPS + r];
    pqk += qv * kv;
    pq.x += qv * rows[r].x; pq.y += qv * rows[r].y; pq.z += qv * rows[r].z; pq.w += qv * rows[r].w;
    if (gdn) {
      pk.x += kv * rows[r].x; pk.y += kv * rows[r].y; pk.z += kv * rows[r].z; pk.w += kv * rows[r].w;
    }
  }
  *reinterpret_cast<float4*>(&red_q[slice][col]) = pq;
  if (gdn) *reinterpret_cast<float4*>(&red_k[slice][col]) = pk;
  if (tid % TPR == 0) red_qk[slice] = pqk;
  __syncthreads();
  if (v_side) {
    float sq = 0.f, sk = 0.f, qk = 0.f;
#pragma unroll
    for (int s = 0; s < KS; ++s) {
      sq += red_q[s][c];
      if (gdn) sk += red_k[s][c];
      qk += red_qk[s];
    }
    const float e = gdn ? beta * (vs[c] - a * sk) : beta * vs[c];
    es[c] = e;
    os[c] = round_bf16(p.scale * (a * sq + qk * e));
  }
  __syncthreads();
  const float4 e4 = *reinterpret_cast<const float4*>(&es[col]);
#pragma unroll
  for (int r = 0; r < RPS; ++r) {
    float4 x = rows[r];
    const float kr = ks[slice * RPS + r];
    x.x = a * x.x + kr * e4.x; x.y = a * x.y + kr * e4.y;
    x.z = a * x.z + kr * e4.z; x.w = a * x.w + kr * e4.w;
    *reinterpret_cast<float4*>(S + (slice * RPS + r) * V + col) = x;
  }
  if (!p.y) return;

  // 5. Mode L's output: Mamba-2's D skip (bf16 product and sum, as the step path's tensors),
  // then the GatedRMSNorm.
  float o = 0.f, ss[3] = {0.f, 0.f, 0.f};
  if (v_side) {
    o = p.d_skip ? round_bf16(os[c] + round_bf16(d_skip * vs[c])) : os[c];
    ss[0] = o * o;
  }
  block_sums(ss, scratch);
  if (v_side)
    store_bf16(p.y + bh * V + c, o * rsqrtf(ss[0] / V + p.norm_eps) * out_gain * (gate * sigmoid(gate)));
}

__global__ void __launch_bounds__(kThreads) decode_add_norm_kernel(DecodeAddNormParams p) {
  const int b = blockIdx.x;
  const bf16_bits* h = p.h + static_cast<int64_t>(b) * p.D;
  const bf16_bits* src = h;
  if (p.delta) {
    const bf16_bits* d = p.delta + static_cast<int64_t>(b) * p.D;
    bf16_bits* sum = p.sum + static_cast<int64_t>(b) * p.D;
    for (int i = threadIdx.x; i < p.D; i += kThreads) store_bf16(sum + i, load_bf16(h + i) + load_bf16(d + i));
    src = sum;  // each thread reads back only what it wrote
  }
  __shared__ float scratch[kWarps][3];
  float ss[3] = {0.f, 0.f, 0.f};
  for (int i = threadIdx.x; i < p.D; i += kThreads) {
    const float s = load_bf16(src + i);
    ss[0] += s * s;
  }
  block_sums(ss, scratch);
  const float rstd = rsqrtf(ss[0] / p.D + p.eps);
  bf16_bits* x = p.x + static_cast<int64_t>(b) * p.D;
  for (int i = threadIdx.x; i < p.D; i += kThreads) store_bf16(x + i, load_bf16(src + i) * rstd * p.w[i]);
}

__global__ void __launch_bounds__(kThreads) decode_swiglu_kernel(DecodeSwigluParams p) {
  const int64_t n = static_cast<int64_t>(p.B) * p.M;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(kThreads) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * kThreads) {
    const float g = load_bf16(p.gate_up + 2 * i), u = load_bf16(p.gate_up + 2 * i + 1);
    store_bf16(p.y + i, g * sigmoid(g) * u);
  }
}

constexpr int kPickThreads = 1024;

__global__ void __launch_bounds__(kPickThreads) decode_pick_kernel(DecodePickParams p) {
  const float* row = p.logits + static_cast<int64_t>(blockIdx.x) * p.V;
  float best = -INFINITY;
  int best_id = 0x7fffffff, bad = 0;
  for (int i = threadIdx.x; i < p.V; i += kPickThreads) {
    const float v = row[i];
    bad += !isfinite(v);
    if (i < p.limit && (v > best || best_id == 0x7fffffff)) best = v, best_id = i;  // i rises: ties keep the first
  }
  for (int off = 16; off > 0; off >>= 1) {
    const float ov = __shfl_xor_sync(0xffffffff, best, off);
    const int oi = __shfl_xor_sync(0xffffffff, best_id, off);
    if (ov > best || (ov == best && oi < best_id)) best = ov, best_id = oi;
    bad += __shfl_xor_sync(0xffffffff, bad, off);
  }
  __shared__ float bests[kPickThreads / 32];
  __shared__ int ids[kPickThreads / 32], bads[kPickThreads / 32];
  const int warp = threadIdx.x / 32;
  if (threadIdx.x % 32 == 0) bests[warp] = best, ids[warp] = best_id, bads[warp] = bad;
  __syncthreads();
  if (threadIdx.x != 0) return;
  for (int w = 1; w < kPickThreads / 32; ++w) {
    if (bests[w] > best || (bests[w] == best && ids[w] < best_id)) best = bests[w], best_id = ids[w];
    bad += bads[w];
  }
  p.out[blockIdx.x] = best_id;
  p.out[p.B + blockIdx.x] = bad;
}

template <int K>
void launch_v(const DecodeMixerParams& p, cudaStream_t stream) {
  if (p.V == 64) launch_after_predecessor(decode_mixer_kernel<K, 64>, dim3(p.B * p.H), dim3(kThreads), 0, stream, p);
  else launch_after_predecessor(decode_mixer_kernel<K, 128>, dim3(p.B * p.H), dim3(kThreads), 0, stream, p);
}

}  // namespace

bool decode_mixer_supported(int K, int V, int W) {
  return (K == 64 || K == 128) && (V == 64 || V == 128) && W >= 2 && W <= 4;
}

void decode_add_norm(const DecodeAddNormParams& p, cudaStream_t stream) {
  if (p.B > 0) decode_add_norm_kernel<<<p.B, kThreads, 0, stream>>>(p);
}

void decode_mixer(const DecodeMixerParams& p, cudaStream_t stream) {
  if (p.B == 0 || p.H == 0) return;
  if (p.K == 64) launch_v<64>(p, stream);
  else launch_v<128>(p, stream);
}

void decode_pick(const DecodePickParams& p, cudaStream_t stream) {
  if (p.B > 0) decode_pick_kernel<<<p.B, kPickThreads, 0, stream>>>(p);
}

void decode_swiglu(const DecodeSwigluParams& p, cudaStream_t stream) {
  const int64_t n = static_cast<int64_t>(p.B) * p.M;
  if (n == 0) return;
  const int64_t blocks = std::min<int64_t>((n + kThreads - 1) / kThreads, 132 * 8);
  decode_swiglu_kernel<<<static_cast<int>(blocks), kThreads, 0, stream>>>(p);
}

}  // namespace oryx::kernels
