// Shape checks at public boundaries. The dimension glossary used across the project:
//   B batch, T time (tokens of this call), L tokens already in a cache, H heads,
//   K head dim of q and k, V head dim of v, D model width, F MLP hidden width, N vocabulary.
// Mixer tensors are [B,T,H,K] (q, k) and [B,T,H,V] (v, o); per-head scalars (log decay g,
// beta) are [B,T,H]; the recurrent state is [B,H,K,V] so that o_t = q_t^T S_t.
#pragma once
#include <torch/types.h>

#include <initializer_list>
#include <string>

namespace oryx {

// Formats sizes as "[2,7,4,16]".
std::string shape_str(c10::IntArrayRef sizes);

// Throws oryx::Error unless `t` has exactly the given sizes; -1 matches any size.
// `what` names the function and tensor, for example "gdn_chunked: k".
void check_shape(const torch::Tensor& t, const char* what, std::initializer_list<int64_t> sizes);

// Throws unless `a` and `b` are on the same device.
void check_same_device(const torch::Tensor& a, const torch::Tensor& b, const char* what);

// The state dtype for inputs of dtype `dt`: fp32 unless the inputs are fp64 (gradient checks).
inline torch::ScalarType state_dtype(torch::ScalarType dt) {
  return dt == torch::kFloat64 ? torch::kFloat64 : torch::kFloat32;
}

}  // namespace oryx
