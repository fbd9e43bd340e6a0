// The fused decoding kernels (decode_layer.h). A decoding step at batch 1 is bound by the
// number of kernels, not by bytes: the step path runs about sixty a layer, each a few
// microseconds of launch and tail for a few kilobytes of work. These three, with cuBLAS's
// products, make a layer eight kernels in mode L.
//
// decode_mixer: one block of 256 threads per (sequence, head). The block first issues the
// loads of its head's recurrent state (K x V fp32, in registers: V / 4 threads across the
// columns, 16 bytes each, 256 / (V / 4) row slices), so that they are in flight while the
// convolutions, norms and the KV append run from shared memory; then it reduces q^T S and
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
// the window (W-1 earlier inputs, oldest first, row stride C) and the new input x, taps
// summed oldest first; the window is shifted in place. Returns the bf16-rounded output.
__device__ __forceinline__ float conv_step(const bf16_bits* w, bf16_bits* window, int C, int c, float x, int W,
                                           bool silu) {
  float prev[3];
  float acc = 0.f;
  for (int j = 0; j < W - 1; ++j) {
    prev[j] = load_bf16(window + j * C + c);
    acc = fmaf(load_bf16(w + c * W + j), prev[j], acc);
  }
  acc = fmaf(load_bf16(w + c * W + W - 1), x, acc);
  for (int j = 0; j + 1 < W - 1; ++j) store_bf16(window + j * C + c, prev[j + 1]);
  store_bf16(window + (W - 2) * C + c, x);
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

template <int K, int V>
__global__ void __launch_bounds__(kThreads, 1) decode_mixer_kernel(DecodeMixerParams p) {
  constexpr int TPR = V / 4;           // threads across the state's columns, 4 each
  constexpr int KS = kThreads / TPR;   // row slices
  constexpr int RPS = K / KS;          // rows per slice
  static_assert(RPS >= 1 && KS * TPR == kThreads, "decode_mixer: unsupported head dims");
  const int b = blockIdx.x / p.H, h = blockIdx.x % p.H, tid = threadIdx.x;
  const int col = (tid % TPR) * 4, slice = tid / TPR;
  const bool lin = p.linear != DecodeLinear::None, gdn = p.linear == DecodeLinear::Gdn;
  const bool attn = p.k_cache != nullptr;

  float* S = lin ? p.state + (static_cast<int64_t>(b) * p.H + h) * K * V : nullptr;
  float4 rows[RPS];
  if (lin)
#pragma unroll
    for (int r = 0; r < RPS; ++r) rows[r] = *reinterpret_cast<const float4*>(S + (slice * RPS + r) * V + col);

  __shared__ float ks[K], vs[V], qs[K], qa[K], kn[K], os[V], scratch[kWarps][3];
  __shared__ __align__(16) float red_q[KS][V], red_k[KS][V];
  __shared__ float red_qk[KS];
  __shared__ __align__(16) float es[V];

  const bf16_bits* row = p.proj + b * p.proj_stride;
  const int64_t pos = p.lengths[b];
  const int HK = p.H * K, HV = p.H * V;

  // 1. The convolution steps (k, v, q_L) and the attention query's raw projection.
  for (int i = tid; i < K + V; i += kThreads) {
    if (i < K) {
      const int c = h * K + i;
      ks[i] = conv_step(p.conv_k_w, p.conv_k + static_cast<int64_t>(b) * (p.W - 1) * HK, HK, c,
                        load_bf16(row + p.off_k + c), p.W, p.kv_silu);
      if (lin)
        qs[i] = conv_step(p.conv_q_w, p.conv_q + static_cast<int64_t>(b) * (p.W - 1) * HK, HK, c,
                          load_bf16(row + p.off_q_lin + c), p.W, p.q_lin_silu);
      if (p.q_attn) qa[i] = load_bf16(row + p.off_q_attn + c);
    } else {
      const int c = h * V + (i - K);
      vs[i - K] = conv_step(p.conv_v_w, p.conv_v + static_cast<int64_t>(b) * (p.W - 1) * HV, HV, c,
                            load_bf16(row + p.off_v + c), p.W, p.kv_silu);
    }
  }
  __syncthreads();

  // 2. The norms: L2 of k and q_L, the QK-norm of the query, then of the (normalised) key.
  float sums[3] = {0.f, 0.f, 0.f};
  for (int i = tid; i < K; i += kThreads) {
    sums[0] += ks[i] * ks[i];
    if (lin) sums[1] += qs[i] * qs[i];
    if (p.q_attn) sums[2] += qa[i] * qa[i];
  }
  block_sums(sums, scratch);
  const float rk = rsqrtf(sums[0] / K + p.l2_eps) * p.l2_gain;
  const float rq = rsqrtf(sums[1] / K + p.l2_eps) * p.l2_gain;
  const float ra = rsqrtf(sums[2] / K + p.norm_eps);
  float kk = 0.f;
  for (int i = tid; i < K; i += kThreads) {
    if (p.k_l2) ks[i] = round_bf16(ks[i] * rk);
    if (lin && p.q_lin_l2) qs[i] = round_bf16(qs[i] * rq);
    if (p.q_attn && p.q_norm) qa[i] = round_bf16(qa[i] * ra * p.q_norm[i]);
    kk += ks[i] * ks[i];
  }
  if (attn) {
    float key_sum[3] = {kk, 0.f, 0.f};
    if (p.k_l2) block_sums(key_sum, scratch);
    else key_sum[0] = sums[0];
    const float rn = rsqrtf(key_sum[0] / K + p.norm_eps);
    for (int i = tid; i < K; i += kThreads) kn[i] = p.k_norm ? round_bf16(ks[i] * rn * p.k_norm[i]) : ks[i];
  }
  __syncthreads();

  // 3. The KV append (every token, any mode) and the rotated query (mode A).
  if (attn) {
    const int64_t slot = pos < p.capacity ? pos : p.capacity - 1;
    const int64_t at = (static_cast<int64_t>(b) * p.capacity + slot) * p.H + h;
    for (int i = tid; i < K + V; i += kThreads) {
      if (i < K) {
        store_bf16(p.k_cache + at * K + i, p.rope ? rotate<K>(kn, i, pos, p.theta) : kn[i]);
        if (p.q_attn)
          store_bf16(p.q_attn + (static_cast<int64_t>(b) * p.H + h) * K + i,
                     p.rope ? rotate<K>(qa, i, pos, p.theta) : qa[i]);
      } else {
        store_bf16(p.v_cache + at * V + (i - K), vs[i - K]);
      }
    }
    if (p.key_counts && h == 0 && tid == 0) p.key_counts[b] = slot + 1;
  }
  if (p.gate_out)
    for (int i = tid; i < V; i += kThreads)
      p.gate_out[(static_cast<int64_t>(b) * p.H + h) * V + i] = row[p.off_gate + h * V + i];
  if (!lin) return;

  // 4. The recurrence (kernels/step.cu's form): S' = a S + k e^T, o = scale (a q^T S + (q.k) e).
  float g, beta;
  if (gdn) {
    g = -expf(p.a_log[h]) * softplus(load_bf16(row + p.off_gates + h) + p.dt_bias[h]);
    beta = 1.f / (1.f + expf(-load_bf16(row + p.off_gates + p.H + h)));
  } else {
    beta = softplus(load_bf16(row + p.off_gates + h) + p.dt_bias[h]);
    g = -expf(p.a_log[h]) * beta;
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
  for (int c = tid; c < V; c += kThreads) {
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
  float ss[3] = {0.f, 0.f, 0.f};
  for (int c = tid; c < V; c += kThreads) {
    if (p.d_skip) os[c] = round_bf16(os[c] + round_bf16(p.d_skip[h] * vs[c]));
    ss[0] += os[c] * os[c];
  }
  block_sums(ss, scratch);
  const float rstd = rsqrtf(ss[0] / V + p.norm_eps);
  for (int c = tid; c < V; c += kThreads) {
    const float gate = load_bf16(row + p.off_gate + h * V + c);
    store_bf16(p.y + (static_cast<int64_t>(b) * p.H + h) * V + c, os[c] * rstd * p.out_norm[c] * (gate * sigmoid(gate)));
  }
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

template <int K>
void launch_v(const DecodeMixerParams& p, cudaStream_t stream) {
  if (p.V == 64) decode_mixer_kernel<K, 64><<<p.B * p.H, kThreads, 0, stream>>>(p);
  else decode_mixer_kernel<K, 128><<<p.B * p.H, kThreads, 0, stream>>>(p);
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

void decode_swiglu(const DecodeSwigluParams& p, cudaStream_t stream) {
  const int64_t n = static_cast<int64_t>(p.B) * p.M;
  if (n == 0) return;
  const int64_t blocks = std::min<int64_t>((n + kThreads - 1) / kThreads, 132 * 8);
  decode_swiglu_kernel<<<static_cast<int>(blocks), kThreads, 0, stream>>>(p);
}

}  // namespace oryx::kernels
