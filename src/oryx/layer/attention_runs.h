// Which queries and keys the attention of a training batch needs, sequence by sequence, for
// chunk-sparse attention (mixers/attention/attention.h: attention_runs).
//
// An entry (b, s, e) queries positions s..e-1 of sequence b against its keys 0..e-1: with a
// bottom-right causal mask that is exactly each query's absolute-position causality, so one
// variable-length kernel launch serves sequences that query different chunks. Entries are the
// sequence's runs of consecutive mode-A tokens, except that two runs separated by fewer than
// kMergeGapTokens mode-L tokens share one entry: the L tokens' queries are computed and
// discarded (the layer takes mode L's output there), which is cheaper than listing the
// sequence's keys again for a second entry. Costing one extra key row (gathered forward and
// backward, its gradient written and summed: about 30 kB of memory traffic at the 350m
// shapes) against one extra query-key pair (about 12.5 kFLOP forward and backward) puts the
// break-even gap near 300 tokens on an H200; 256 it is.
//
// The entries run on flash attention's varlen kernel, which on an H200 takes about twice as
// long per query-key pair as the dense causal kernel SDPA picks (cuDNN's): measured in one
// training step of oryx-gdn-350m with the sampler (docs/perf.md). So when the entries would
// cost more than attending densely over every sequence that has a mode-A token (the
// sampler's batches, whose mixed sequences span most of their length), the plan is that
// instead: `dense_seqs` lists those sequences and every one of their positions is queried.
// When at least 3/4 of the batch's sequences have a mode-A token, it lists every sequence:
// attending the few others costs less than gathering the rows of those that attend (and
// scattering their outputs and gradients back).
#pragma once
#include <torch/types.h>

#include <array>
#include <vector>

namespace oryx {

struct AttentionRuns {
  static constexpr int64_t kMergeGapTokens = 256;
  static constexpr double kKeyRowCostPairs = 300;  // one listed key row, in query-key pairs
  static constexpr double kVarlenCostRatio = 2.0;  // varlen kernel time per pair / dense kernel's

  // The dense plan: sequences with a mode-A token [n] int64 (every sequence when 3/4 of
  // them have one), every position queried; when set, the entry fields below are empty.
  torch::Tensor dense_seqs;

  torch::Tensor q_rows;      // [Nq] int64 b*T+t of every queried token, entry after entry
  torch::Tensor k_rows;      // [Nk] int64 b*T+0 .. b*T+e-1 for each entry, entry after entry
  torch::Tensor cu_q, cu_k;  // [R+1] int32 offsets of each entry's queries and keys
  torch::Tensor seq_entries; // [B+1] int32: sequence b's entries are seq_entries[b] .. [b+1]-1
  int64_t max_q = 0, max_k = 0;
  int64_t batch = 0, seq_len = 0;              // B and T of the call
  std::vector<std::array<int64_t, 3>> entries;  // (b, s, e) on the host

  bool defined() const { return q_rows.defined() || dense_seqs.defined(); }
  bool is_dense() const { return dense_seqs.defined(); }
  // From a [B,T] bool mask (true = mode A) on the CPU; tensors placed on `device` in one copy.
  // `allow_dense` lets the cost model pick the dense plan (tests pin the entries with false).
  static AttentionRuns from_mask(const torch::Tensor& mask_cpu, torch::Device device, bool allow_dense = true);
};

}  // namespace oryx
