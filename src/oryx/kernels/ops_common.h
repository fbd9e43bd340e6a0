// What every torch-facing kernel glue file (*_ops.cpp) needs: raw pointers of bf16 and fp32
// tensors for the kernels' plain parameter structs (undefined tensors give nullptr, for
// optional operands), whether the GPU has our kernels, row alignment for vector accesses, and
// the check after a launch.
#pragma once
#include <ATen/cuda/CUDAContext.h>
#include <cuda_runtime_api.h>
#include <torch/types.h>

#include <algorithm>
#include <cstdint>

#include "oryx/common/error.h"
#include "oryx/kernels/linear_params.h"

namespace oryx::kernels {

inline const bf16_bits* bf16_ptr(const torch::Tensor& t) {
  return t.defined() ? reinterpret_cast<const bf16_bits*>(t.data_ptr<at::BFloat16>()) : nullptr;
}
inline bf16_bits* bf16_mut_ptr(torch::Tensor& t) {
  return t.defined() ? reinterpret_cast<bf16_bits*>(t.data_ptr<at::BFloat16>()) : nullptr;
}
inline const float* f32_ptr(const torch::Tensor& t) { return t.defined() ? t.data_ptr<float>() : nullptr; }
inline float* f32_mut_ptr(torch::Tensor& t) { return t.defined() ? t.data_ptr<float>() : nullptr; }

// The kernels are compiled for sm_90a only (kernels/CMakeLists.txt): other GPUs take the
// reference paths.
inline bool is_hopper(const torch::Tensor& t) {
  return at::cuda::getDeviceProperties(t.device().index())->major == 9;
}

// The one-warp-per-row kernels read a row's last-dimension values 1/32 at a time in one access
// per lane: a contiguous tensor at an offset that is not a multiple of that (a view) is
// copied to a fresh, aligned buffer.
inline torch::Tensor rows_aligned(const torch::Tensor& t) {
  const auto bytes = static_cast<uintptr_t>(std::max<int64_t>(1, t.size(-1) / 32 * t.element_size()));
  return reinterpret_cast<uintptr_t>(t.data_ptr()) % bytes == 0 ? t : t.clone();
}

// Launch errors (bad configuration, no kernel image for this GPU) surface here, not at the
// next synchronisation far away.
inline void check_launch(const char* what) {
  cudaError_t err = cudaGetLastError();
  ORYX_CHECK(err == cudaSuccess, what, ": CUDA error: ", cudaGetErrorString(err));
}

}  // namespace oryx::kernels
