#include "oryx/bench/device_stats.h"

#ifdef ORYX_WITH_CUDA_KERNELS
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <cuda_runtime_api.h>
#endif

namespace oryx::bench {

std::string gpu_name() {
#ifdef ORYX_WITH_CUDA_KERNELS
  cudaDeviceProp prop{};
  int dev = 0;
  if (cudaGetDevice(&dev) == cudaSuccess && cudaGetDeviceProperties(&prop, dev) == cudaSuccess)
    return prop.name;
#endif
  return "none";
}

#ifdef ORYX_WITH_CUDA_KERNELS
namespace {
c10::DeviceIndex cuda_index(torch::Device d) { return d.has_index() ? d.index() : at::cuda::current_device(); }
}  // namespace
#endif

void peak_memory_reset(torch::Device device) {
#ifdef ORYX_WITH_CUDA_KERNELS
  if (device.is_cuda()) c10::cuda::CUDACachingAllocator::resetPeakStats(cuda_index(device));
#else
  (void)device;
#endif
}

double peak_memory_gb(torch::Device device) {
#ifdef ORYX_WITH_CUDA_KERNELS
  if (device.is_cuda()) {
    auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(cuda_index(device));
    return static_cast<double>(
               stats.allocated_bytes[static_cast<size_t>(c10::CachingAllocator::StatType::AGGREGATE)].peak) /
           1e9;
  }
#else
  (void)device;
#endif
  return -1;
}

void release_cached_memory(torch::Device device) {
#ifdef ORYX_WITH_CUDA_KERNELS
  if (device.is_cuda()) c10::cuda::CUDACachingAllocator::emptyCache();
#else
  (void)device;
#endif
}

}  // namespace oryx::bench
