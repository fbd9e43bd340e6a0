#include "oryx/common/device.h"

#include <torch/cuda.h>

#include "oryx/common/error.h"

namespace oryx {

torch::Device device_parse(const std::string& spec) {
  if (spec == "auto") return torch::cuda::is_available() ? torch::Device("cuda") : torch::Device("cpu");
  torch::Device d("cpu");
  try {
    d = torch::Device(spec);
  } catch (const std::exception&) {
    ORYX_FAIL("device: unknown device '", spec, "' (cpu, cuda, cuda:N or auto)");
  }
  ORYX_CHECK(d.is_cpu() || d.is_cuda(), "device: unsupported device '", spec, "' (cpu, cuda, cuda:N or auto)");
  ORYX_CHECK(!d.is_cuda() || torch::cuda::is_available(), "device ", spec,
             ": no CUDA device is available on this machine");
  return d;
}

}  // namespace oryx
