// What the benchmarks report about the device: the GPU's name and the peak memory the torch
// caching allocator handed out (CUDA builds; "none" and -1 elsewhere), shared by
// `oryx bench kernels`, `bench train` and `bench generate`.
#pragma once
#include <torch/types.h>

#include <string>

namespace oryx::bench {

// The name of the current CUDA device ("NVIDIA H200"), or "none" without CUDA.
std::string gpu_name();

// Starts a new peak-memory window on `device` (nothing on the CPU).
void peak_memory_reset(torch::Device device);

// The most bytes allocated at once on `device` since the last reset, in GB (1e9 bytes), from
// the caching allocator's statistics; -1 on the CPU, which keeps none.
double peak_memory_gb(torch::Device device);

// Returns the caching allocator's unused blocks to the driver (after running out of memory,
// so the next case starts from the memory actually held; nothing on the CPU).
void release_cached_memory(torch::Device device);

}  // namespace oryx::bench
