// The one parser of device specs, for the --device flags and the `device` key of run files.
#pragma once
#include <torch/types.h>

#include <future>
#include <string>

namespace oryx {

// "cpu", "cuda", "cuda:N", or "auto" (cuda when available). Throws oryx::Error for anything
// else, and for cuda on a machine without a CUDA device.
torch::Device device_parse(const std::string& spec);

// The weights' and activations' dtype for inference (--precision): "auto" (bf16 on CUDA, fp32
// on the CPU), "fp32" or "bf16". Throws oryx::Error for anything else.
torch::ScalarType inference_dtype(const std::string& precision, torch::Device device);

// Starts the device's one-time set-up on another thread (for CUDA: the context, the caching
// allocator, a cuBLAS handle, which the thread leaves in libtorch's pool for the next one, and
// a first `dtype` matrix product), so that it overlaps work that does not need the device,
// such as reading a weights file; a no-op for the CPU. get() rethrows what it threw.
std::future<void> device_warm_up_async(torch::Device device, torch::ScalarType dtype);

}  // namespace oryx
