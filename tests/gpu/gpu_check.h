// What every case of oryx_gpu_tests shares: the bounds, the comparison of a kernel's tensor
// with the reference's, the report line of a case and the failure count that sets the exit
// status, and the wrapper that turns an exception into a failing case.
#pragma once
#include <torch/torch.h>

#include <cstdio>
#include <string>
#include <vector>

namespace oryx::testing {

constexpr double kBoundForward = 1e-2;
constexpr double kBoundGrad = 2e-2;

struct Check {
  std::string name;
  double max_rel, rms, bound;
};

extern int g_failures;

// Prints one case's line (each check's max-relative error; o_bf16, when given, the
// reference's own error from rounding to bf16) and counts it failing if a bound is exceeded.
void report(const std::string& id, const std::vector<Check>& checks, double o_bf16 = -1);

// max |a - b| / max |b| against `bound`; an identically zero reference is compared absolutely.
Check check(const char* name, const torch::Tensor& a, const torch::Tensor& b, double bound);

// Runs one case; an exception (a CUDA error, a failed check) counts as a failing case and
// the program goes on with the next.
template <class F>
void guarded(const char* what, F&& f) {
  try {
    f();
  } catch (const c10::Error& e) {
    ++g_failures;
    std::printf("%-34s FAIL: %s\n", what, e.what_without_backtrace());
  } catch (const std::exception& e) {
    ++g_failures;
    std::printf("%-34s FAIL: %s\n", what, e.what());
  }
  std::fflush(stdout);
}

// The model-level cases (gpu_model_tests.cpp): chunk-sparse attention and the CUDA decode graphs.
void run_model_cases(uint64_t& seed_counter);

// The fused decoding step against Model::decode_step (gpu_decode_tests.cpp).
void run_decode_cases(uint64_t& seed_counter);

// The training-step cases (gpu_train_tests.cpp): the CUDA step graph against eager steps.
void run_train_cases(uint64_t& seed_counter);

}  // namespace oryx::testing
