// The tensor API of the key-gradient sum of chunk-sparse attention (ORYX_CUDA=ON), called by
// attention_runs' backward (mixers/attention/runs.cpp) beside its index_add reference.
#pragma once
#include <torch/types.h>

#include <utility>

namespace oryx {

// True for bf16 CUDA per-entry gradients [Nk,H,K] with H*K a multiple of 8, on a Hopper GPU.
bool kernels_entry_key_sum_supported(const torch::Tensor& dk_entries, const torch::Tensor& dv_entries);

// The gradients of the keys and values of every position [B*T,H,K] from the per-entry ones;
// cu_k and seq_entries as in AttentionRuns (layer/attention_runs.h).
std::pair<torch::Tensor, torch::Tensor> kernels_entry_key_sum(const torch::Tensor& dk_entries,
                                                             const torch::Tensor& dv_entries,
                                                             const torch::Tensor& cu_k,
                                                             const torch::Tensor& seq_entries, int64_t batch,
                                                             int64_t seq_len);

}  // namespace oryx
