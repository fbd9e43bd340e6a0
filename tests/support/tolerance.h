// Comparison helpers and the tolerances the suite uses, stated once.
//   fp64: forms of one algorithm agree to rounding, max relative error < 1e-10.
//   fp32: < 1e-4 relative to the largest reference magnitude (chunked sums reorder terms).
//   bf16 inputs: the fast form is judged against the fp32 reference of the same inputs and
//   must stay within 2x the error of the reference itself run on bf16-rounded data, plus
//   a small floor (flash-attention's rule, STYLE.md example 6).
#pragma once
#include <torch/torch.h>

#include <string>

namespace oryx::testing {

constexpr double kTolF64 = 1e-10;
constexpr double kTolF32 = 1e-4;

// max |a - b| / max(max |b|, tiny): one number per comparison, robust to near-zero entries.
double max_rel_error(const torch::Tensor& a, const torch::Tensor& b);

// A seeded generator for test inputs; every test seeds its own.
void seed(uint64_t s);

}  // namespace oryx::testing
