// The one parser of device specs, for the --device flags and the `device` key of run files.
#pragma once
#include <torch/types.h>

#include <string>

namespace oryx {

// "cpu", "cuda", "cuda:N", or "auto" (cuda when available). Throws oryx::Error for anything
// else, and for cuda on a machine without a CUDA device.
torch::Device device_parse(const std::string& spec);

}  // namespace oryx
