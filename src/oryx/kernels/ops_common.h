// What every torch-facing kernel glue file (*_ops.cpp) needs: raw pointers of bf16 and fp32
// tensors for the kernels' plain parameter structs (undefined tensors give nullptr, for
// optional operands), whether the GPU has our kernels, and the check after a launch.
#pragma once
#include <ATen/cuda/CUDAContext.h>
#include <cuda_runtime_api.h>
#include <torch/types.h>

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

// Launch errors (bad configuration, no kernel image for this GPU) surface here, not at the
// next synchronisation far away.
inline void check_launch(const char* what) {
  cudaError_t err = cudaGetLastError();
  ORYX_CHECK(err == cudaSuccess, what, ": CUDA error: ", cudaGetErrorString(err));
}

}  // namespace oryx::kernels
