// One profiled training step for `oryx bench train --profile`: libtorch's Kineto profiler
// records every GPU kernel (and copy) the step launches, and the table sums their device time
// by kernel name and by a coarse group (gemm, attention, linear-mixer, ...), so a breakdown
// says where a step's time goes. On the CPU it sums the aten operators' inclusive times
// instead (nested operators count in their parents too).
#pragma once
#include <torch/types.h>

#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "oryx/bench/train_bench.h"

namespace oryx::bench {

StepProfile profile_step(const std::function<void()>& step, torch::Device device);

// The group a kernel's name belongs to (see step_profile.cpp for the rules).
std::string kernel_group(const std::string& kernel_name);

nlohmann::json step_profile_to_json(const StepProfile& p);

// The profile as a table on stdout: wall and kernel time, the groups, the 25 costliest
// kernels (CPU operators when `cuda` is false); `what` names the profiled work ("step").
void step_profile_print(const StepProfile& p, bool cuda, const std::string& what);

}  // namespace oryx::bench
