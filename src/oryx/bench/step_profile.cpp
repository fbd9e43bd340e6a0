#include "oryx/bench/step_profile.h"

#include <torch/csrc/autograd/profiler_kineto.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <unordered_map>

namespace oryx::bench {

namespace {

bool has(const std::string& s, const char* part) { return s.find(part) != std::string::npos; }

}  // namespace

std::string kernel_group(const std::string& n) {
  // Our own kernels first: their names would also match the generic rules below.
  if (has(n, "fwd_prep_kernel") || has(n, "fwd_state_kernel") || has(n, "bwd_state_kernel") ||
      has(n, "bwd_chunk_kernel") || has(n, "step_kernel"))
    return "linear-mixer";
  if (has(n, "ce_forward_kernel") || has(n, "ce_backward_kernel")) return "loss";
  if (has(n, "short_conv_") || has(n, "norm_rope_") || has(n, "gated_norm_")) return "fused-layer";
  if (has(n, "flash") || has(n, "fmha") || has(n, "attention") || has(n, "attn")) return "attention";
  if (has(n, "gemm") || has(n, "cutlass") || has(n, "nvjet") || has(n, "xmma") || has(n, "cublas"))
    return "gemm";
  if (has(n, "adam") || has(n, "Adam") || has(n, "multi_tensor")) return "optimizer";
  if (has(n, "softmax") || has(n, "nll") || has(n, "cross_entropy")) return "loss";
  if (has(n, "conv") || has(n, "cudnn")) return "conv";
  if (has(n, "Memcpy") || has(n, "Memset") || has(n, "copy") || has(n, "cat") || has(n, "index"))
    return "copy/index";
  if (has(n, "reduce") || has(n, "Reduce") || has(n, "norm")) return "reduction";
  if (has(n, "elementwise") || has(n, "Elementwise") || has(n, "unrolled") || has(n, "vectorized"))
    return "elementwise";
  return "other";
}

StepProfile profile_step(const std::function<void()>& step, torch::Device device) {
  namespace prof = torch::autograd::profiler;
  using torch::profiler::impl::ActivityType;
  std::set<ActivityType> activities{ActivityType::CPU};
  if (device.is_cuda()) activities.insert(ActivityType::CUDA);
  torch::profiler::impl::ProfilerConfig config(torch::profiler::impl::ProfilerState::KINETO);
  prof::prepareProfiler(config, activities);
  prof::enableProfiler(config, activities);
  auto t0 = std::chrono::steady_clock::now();
  step();
  if (device.is_cuda()) torch::cuda::synchronize();
  double wall_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  auto result = prof::disableProfiler();

  StepProfile p;
  p.step_ms = wall_ms;
  std::unordered_map<std::string, KernelTime> by_name;
  for (const auto& e : result->events()) {
    bool on_device = e.deviceType() == c10::DeviceType::CUDA;
    if (device.is_cuda() ? !on_device : (on_device || e.name().rfind("aten::", 0) != 0)) continue;
    auto& k = by_name[e.name()];
    k.name = e.name();
    k.total_us += static_cast<double>(e.durationNs()) / 1e3;
    ++k.calls;
    if (device.is_cuda()) {
      p.kernel_ms += static_cast<double>(e.durationNs()) / 1e6;
      ++p.kernels;
    }
  }
  for (auto& [name, k] : by_name) {
    k.group = device.is_cuda() ? kernel_group(name) : "cpu-op";
    p.by_group_ms[k.group] += k.total_us / 1e3;
    p.by_kernel.push_back(k);
  }
  std::sort(p.by_kernel.begin(), p.by_kernel.end(),
            [](const KernelTime& a, const KernelTime& b) { return a.total_us > b.total_us; });
  return p;
}

nlohmann::json step_profile_to_json(const StepProfile& p) {
  nlohmann::json j = {{"step_ms", p.step_ms}, {"kernel_ms", p.kernel_ms}, {"kernels", p.kernels},
                      {"by_group_ms", p.by_group_ms}, {"by_kernel", nlohmann::json::array()}};
  for (const auto& k : p.by_kernel)
    j["by_kernel"].push_back({{"name", k.name}, {"group", k.group}, {"total_us", k.total_us}, {"calls", k.calls}});
  return j;
}

void step_profile_print(const StepProfile& p, bool cuda, const std::string& what) {
  if (cuda)
    std::printf("profiled %s: %.2f ms wall, %.2f ms of GPU kernels in %lld launches\n", what.c_str(), p.step_ms,
                p.kernel_ms, static_cast<long long>(p.kernels));
  else
    std::printf("profiled %s: %.2f ms wall; CPU operators, inclusive times\n", what.c_str(), p.step_ms);
  std::printf("%-14s %10s\n", "group", "ms");
  for (const auto& [g, ms] : p.by_group_ms) std::printf("%-14s %10.3f\n", g.c_str(), ms);
  std::printf("%10s %6s  %-14s %s\n", "us", "calls", "group", cuda ? "kernel (top 25)" : "operator (top 25)");
  for (size_t i = 0; i < p.by_kernel.size() && i < 25; ++i) {
    const auto& k = p.by_kernel[i];
    std::printf("%10.1f %6lld  %-14s %.110s\n", k.total_us, static_cast<long long>(k.calls), k.group.c_str(),
                k.name.c_str());
  }
}

}  // namespace oryx::bench
