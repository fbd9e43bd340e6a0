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

torch::ScalarType inference_dtype(const std::string& precision, torch::Device device) {
  ORYX_CHECK(precision == "auto" || precision == "fp32" || precision == "bf16",
             "--precision must be auto, fp32 or bf16, got '", precision, "'");
  if (precision == "bf16" || (precision == "auto" && device.is_cuda())) return torch::kBFloat16;
  return torch::kFloat32;
}

std::future<void> device_warm_up_async(torch::Device device, torch::ScalarType dtype) {
  if (!device.is_cuda()) return std::async(std::launch::deferred, [] {});
  return std::async(std::launch::async, [device, dtype] {
    auto a = torch::ones({64, 64}, torch::TensorOptions().device(device).dtype(dtype));
    torch::matmul(a, a).sum().item<double>();  // waits, so that the thread ends with the work done
  });
}

}  // namespace oryx
