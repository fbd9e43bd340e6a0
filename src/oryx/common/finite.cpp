#include "oryx/common/finite.h"

#include <ATen/Parallel.h>

#include <atomic>
#include <cstdint>
#include <optional>

namespace oryx {

namespace {

// True when no value of the n floats at `bits` has an all-ones exponent (NaN or Inf): one
// pass over the memory in parallel chunks, a loop the compiler vectorises. On the CPU,
// torch::isfinite(t).all() makes four full-size passes (two comparisons, abs, and), most of
// the time of loading a checkpoint there.
template <typename Bits>
bool exponents_finite(const void* data, int64_t n, Bits exponent) {
  const auto* bits = static_cast<const Bits*>(data);
  std::atomic<bool> finite{true};
  at::parallel_for(0, n, int64_t{1} << 16, [&](int64_t begin, int64_t end) {
    bool bad = false;
    for (int64_t i = begin; i < end; ++i) bad |= (bits[i] & exponent) == exponent;
    if (bad) finite = false;
  });
  return finite;
}

// Whether every value of floating `t` is finite, read on the host for a CPU tensor of a
// dtype the bit test knows; nullopt otherwise (the caller reduces on the device).
std::optional<bool> host_all_finite(const torch::Tensor& t) {
  if (!t.device().is_cpu() || !t.is_contiguous()) return std::nullopt;
  const void* p = t.data_ptr();
  switch (t.scalar_type()) {
    case torch::kFloat32: return exponents_finite<uint32_t>(p, t.numel(), 0x7f800000u);
    case torch::kFloat64: return exponents_finite<uint64_t>(p, t.numel(), 0x7ff0000000000000ull);
    case torch::kBFloat16: return exponents_finite<uint16_t>(p, t.numel(), uint16_t{0x7f80});
    case torch::kFloat16: return exponents_finite<uint16_t>(p, t.numel(), uint16_t{0x7c00});
    default: return std::nullopt;
  }
}

}  // namespace

std::string first_non_finite(const std::vector<std::pair<std::string, torch::Tensor>>& tensors) {
  // Host tensors are tested in place; the others with one reduction each, read back once.
  // Only a failure pays for finding the culprit.
  std::vector<torch::Tensor> ok;
  bool host_ok = true;
  for (const auto& [name, t] : tensors) {
    if (!t.is_floating_point() || t.numel() == 0) continue;
    if (auto finite = host_all_finite(t)) {
      host_ok = host_ok && *finite;
      continue;
    }
    auto flag = torch::isfinite(t.detach()).all();
    ok.push_back(ok.empty() ? flag : flag.to(ok.front().device()));
  }
  if (host_ok && (ok.empty() || torch::stack(ok).all().item<bool>())) return "";
  for (const auto& [name, t] : tensors) {
    if (!t.is_floating_point() || t.numel() == 0) continue;
    const auto finite = host_all_finite(t);
    if (finite ? !*finite : !torch::isfinite(t.detach()).all().item<bool>()) return name;
  }
  return "";
}

}  // namespace oryx
