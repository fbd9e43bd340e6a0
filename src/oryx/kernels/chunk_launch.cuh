// Host-side launchers of the chunked kernels for one (mixer, K, V); instantiated once per
// combination in chunk_<mixer>_k<K>.cu so that the combinations compile in parallel.
#pragma once
#include "oryx/kernels/chunk_bwd.cuh"
#include "oryx/kernels/chunk_fwd.cuh"
#include "oryx/kernels/linear_kernels.h"

#include <type_traits>

namespace oryx::kernels {

// Kernels above 48 KB of dynamic shared memory must opt in, once per kernel.
template <class Kernel>
void allow_smem(Kernel kernel, int bytes) {
  if (bytes > 48 * 1024) cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes);
}

int device_sm_count();

// Value-tile width of the state passes. They are sequential over chunks, so their
// parallelism is B * H * (V / BV) blocks: the widest tile (fewest reloads of Q, K, W, P per
// chunk) that still gives about one block per multiprocessor. ORYX_KERNELS_BV=32|64|128
// overrides the choice (the GPU tests use it to cover every width).
int state_tile_width(const ChunkParams& p);

template <int V, class F>
void with_tile_width(int bv, F&& f) {
  if constexpr (V >= 128) {
    if (bv == 128) return f(std::integral_constant<int, 128>{});
  }
  if (bv == 64) return f(std::integral_constant<int, 64>{});
  return f(std::integral_constant<int, 32>{});
}

template <Mixer M, int K, int V>
void chunk_forward(const ChunkParams& p, cudaStream_t stream) {
  using Prep = PrepSmem<M, K, V>;
  static bool once = [] {
    allow_smem(fwd_prep_kernel<M, K, V>, Prep::kBytes);
    return true;
  }();
  (void)once;
  fwd_prep_kernel<M, K, V><<<dim3(p.N, p.H, p.B), Prep::kThreads, Prep::kBytes, stream>>>(p);
  with_tile_width<V>(state_tile_width(p), [&](auto bv) {
    constexpr int BV = decltype(bv)::value;
    constexpr int bytes = StateFwdSmem<M, K, V, BV>::kBytes;
    static bool once_bv = [] {
      allow_smem(fwd_state_kernel<M, K, V, BV>, bytes);
      return true;
    }();
    (void)once_bv;
    fwd_state_kernel<M, K, V, BV><<<dim3(V / BV, p.H, p.B), BV * 2, bytes, stream>>>(p);
  });
}

template <Mixer M, int K, int V>
void chunk_backward(const ChunkParams& p, cudaStream_t stream) {
  using Chunk = ChunkBwdSmem<M, K, V>;
  static bool once = [] {
    allow_smem(bwd_chunk_kernel<M, K, V>, Chunk::kBytes);
    return true;
  }();
  (void)once;
  with_tile_width<V>(state_tile_width(p), [&](auto bv) {
    constexpr int BV = decltype(bv)::value;
    constexpr int bytes = StateBwdSmem<M, K, V, BV>::kBytes;
    static bool once_bv = [] {
      allow_smem(bwd_state_kernel<M, K, V, BV>, bytes);
      return true;
    }();
    (void)once_bv;
    bwd_state_kernel<M, K, V, BV><<<dim3(V / BV, p.H, p.B), BV * 2, bytes, stream>>>(p);
  });
  bwd_chunk_kernel<M, K, V><<<dim3(p.N, p.H, p.B), 256, Chunk::kBytes, stream>>>(p);
}

}  // namespace oryx::kernels
