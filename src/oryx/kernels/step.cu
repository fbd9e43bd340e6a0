// One decoding token per sequence for both mixers. They share a form: with a = e^g,
//   S' = a S + k e^T,   o = scale (a q^T S + (q.k) e),
//   e = beta (v - a S^T k)  (GDN, the delta rule)   or   e = beta v  (SSD),
// so one pass reads S once (accumulating q^T S and, for GDN, k^T S), then writes S' once;
// o needs only the two reductions and q.k. The step is bound by the state's bytes
// (B H K V 4 each way) or, at small batch, by the launch: one kernel.
#include "oryx/kernels/linear_kernels.h"
#include "oryx/kernels/mma.cuh"

namespace oryx::kernels {
namespace {

template <bool F32>
__device__ __forceinline__ float load_in(const void* p, long i) {
  if constexpr (F32) return static_cast<const float*>(p)[i];
  else return __bfloat162float(static_cast<const bf16*>(p)[i]);
}

// Work items are (batch x head, 32 state columns): the reductions q^T S and k^T S are per
// column, so column groups are independent. 256 threads = 8 float4 column groups x 32 row
// slices. The grid is persistent (about two blocks per multiprocessor) and each block loads
// its next item's state before writing the current one, so that reads and writes overlap;
// with one item per block all blocks would read first and write after.
constexpr int kStepCols = 32;

template <Mixer M, int K, int V, bool F32>
__global__ void __launch_bounds__(256) step_kernel(StepParams p, int items) {
  constexpr int TPR = kStepCols / 4;  // threads across the item's columns, 4 (16 bytes) each
  constexpr int KS = 256 / TPR;       // row slices
  constexpr int RPS = K / KS;         // rows per slice
  constexpr int kGroups = V / kStepCols;
  static_assert(RPS >= 1, "step_kernel: K too small");
  // 16-byte alignment: the reductions and e are read and written as float4.
  __shared__ __align__(16) float red_q[KS][kStepCols], red_k[KS][kStepCols], red_qk[KS], es[kStepCols];
  const int tid = threadIdx.x, col = (tid % TPR) * 4, slice = tid / TPR;

  float4 rows[RPS], next_rows[RPS];
  float qv[RPS], kv[RPS], next_q[RPS], next_k[RPS];
  auto load = [&](int item, float4 (&r4)[RPS], float (&q)[RPS], float (&k)[RPS]) {
    long bh = item / kGroups;
    const float* S = p.state_in + bh * K * V + (item % kGroups) * kStepCols;
#pragma unroll
    for (int r = 0; r < RPS; ++r) {
      int row = slice * RPS + r;
      r4[r] = *reinterpret_cast<const float4*>(S + row * V + col);
      q[r] = load_in<F32>(p.q, bh * K + row);
      k[r] = load_in<F32>(p.k, bh * K + row);
    }
  };
  int item = blockIdx.x;
  if (item >= items) return;
  load(item, rows, qv, kv);
  for (; item < items; item += gridDim.x) {
    const int next = item + gridDim.x;
    if (next < items) load(next, next_rows, next_q, next_k);
    const long bh = item / kGroups;
    const int c0 = (item % kGroups) * kStepCols;
    const float a = __expf(p.g[bh]), beta = p.beta[bh];
    float4 pq = {0.f, 0.f, 0.f, 0.f}, pk = {0.f, 0.f, 0.f, 0.f};
    float pqk = 0.f;
#pragma unroll
    for (int r = 0; r < RPS; ++r) {
      pqk += qv[r] * kv[r];
      pq.x += qv[r] * rows[r].x; pq.y += qv[r] * rows[r].y; pq.z += qv[r] * rows[r].z; pq.w += qv[r] * rows[r].w;
      if (M == Mixer::Gdn) {
        pk.x += kv[r] * rows[r].x; pk.y += kv[r] * rows[r].y; pk.z += kv[r] * rows[r].z; pk.w += kv[r] * rows[r].w;
      }
    }
    *reinterpret_cast<float4*>(&red_q[slice][col]) = pq;
    if (M == Mixer::Gdn) *reinterpret_cast<float4*>(&red_k[slice][col]) = pk;
    if (tid % TPR == 0) red_qk[slice] = pqk;
    __syncthreads();
    if (tid < kStepCols) {
      float sq = 0.f, sk = 0.f, qk = 0.f;
#pragma unroll
      for (int s = 0; s < KS; ++s) {
        sq += red_q[s][tid];
        if (M == Mixer::Gdn) sk += red_k[s][tid];
        qk += red_qk[s];
      }
      float v = load_in<F32>(p.v, bh * V + c0 + tid);
      float e = M == Mixer::Gdn ? beta * (v - a * sk) : beta * v;
      es[tid] = e;
      float o = p.scale * (a * sq + qk * e);
      if constexpr (F32) static_cast<float*>(p.o)[bh * V + c0 + tid] = o;
      else static_cast<bf16*>(p.o)[bh * V + c0 + tid] = __float2bfloat16(o);
    }
    __syncthreads();
    float* So = p.state_out + bh * K * V + c0;
    const float4 e4 = *reinterpret_cast<const float4*>(&es[col]);
#pragma unroll
    for (int r = 0; r < RPS; ++r) {
      float4 x = rows[r];
      float kr = kv[r];
      x.x = a * x.x + kr * e4.x; x.y = a * x.y + kr * e4.y;
      x.z = a * x.z + kr * e4.z; x.w = a * x.w + kr * e4.w;
      *reinterpret_cast<float4*>(So + (slice * RPS + r) * V + col) = x;
    }
#pragma unroll
    for (int r = 0; r < RPS; ++r) {
      rows[r] = next_rows[r];
      qv[r] = next_q[r];
      kv[r] = next_k[r];
    }
  }
}

int step_grid(int items) {
  static const int sms = [] {
    int dev = 0, n = 0;
    cudaGetDevice(&dev);
    cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, dev);
    return n;
  }();
  return items < 2 * sms ? items : 2 * sms;
}

template <Mixer M, int K, int V>
void launch(const StepParams& p, cudaStream_t stream) {
  int items = p.B * p.H * (V / kStepCols);
  dim3 grid(step_grid(items));
  if (p.fp32_inputs) step_kernel<M, K, V, true><<<grid, 256, 0, stream>>>(p, items);
  else step_kernel<M, K, V, false><<<grid, 256, 0, stream>>>(p, items);
}

template <Mixer M>
void launch_dims(const StepParams& p, cudaStream_t stream) {
  if (p.K == 64 && p.V == 64) launch<M, 64, 64>(p, stream);
  else if (p.K == 128 && p.V == 128) launch<M, 128, 128>(p, stream);
  else if (p.K == 64 && p.V == 128) launch<M, 64, 128>(p, stream);
  else launch<M, 128, 64>(p, stream);
}

}  // namespace

void linear_step(Mixer mixer, const StepParams& p, cudaStream_t stream) {
  if (mixer == Mixer::Gdn) launch_dims<Mixer::Gdn>(p, stream);
  else launch_dims<Mixer::Ssd>(p, stream);
}

}  // namespace oryx::kernels
