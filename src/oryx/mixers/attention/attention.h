// Causal softmax attention, mode A (SPEC section 1), over the keys of every earlier token of
// the sequence whatever mode produced that token's output.
//
//   q       [B,Tq,H,K]  queries at absolute positions q_pos (one position list for the batch)
//   k       [B,Tk,H,K]  attention-ready keys of positions 0..Tk-1 (normed, rotated)
//   v       [B,Tk,H,V]
//   q_pos   [Tq] int64, increasing, each < Tk; undefined means the last Tq positions
//           (bottom-right causal alignment, as a prefill chunk after a cache needs)
//   o       [B,Tq,H,V]  o_i = softmax(scale q_i K_{<=q_pos[i]}^T) V_{<=q_pos[i]}
//
// Three forms with one signature:
//   attention_naive    the reference: a loop over queries, in fp32 (fp64 for fp64 inputs)
//   attention_chunked  the batched form (torch's scaled_dot_product_attention with a mask)
//   attention_step     one query per sequence against a whole KV cache (decoding)
#pragma once
#include <torch/types.h>

#include "oryx/layer/modes.h"

namespace oryx {

torch::Tensor attention_naive(const torch::Tensor& q, const torch::Tensor& k,
                              const torch::Tensor& v, const torch::Tensor& q_pos, double scale);

torch::Tensor attention_chunked(const torch::Tensor& q, const torch::Tensor& k,
                                const torch::Tensor& v, const torch::Tensor& q_pos, double scale);

// While alive, attention_chunked's scaled_dot_product_attention does not choose cuDNN's
// kernels (flash-attention or the memory-efficient ones run instead). For generation, whose
// prompts come in any length: cuDNN builds an execution plan for every new shape (reported
// at about 400 ms a shape; our first prefill in a fresh process took 440-490 ms) and takes
// more host time per call.
// Training, whose shapes repeat, keeps cuDNN (its kernels are the fastest there). The
// switch is torch's global one (as torch.nn.attention.sdpa_kernel sets it): not for use
// while another thread trains.
class SdpaWithoutCudnn {
 public:
  SdpaWithoutCudnn();
  ~SdpaWithoutCudnn();
  SdpaWithoutCudnn(const SdpaWithoutCudnn&) = delete;
  SdpaWithoutCudnn& operator=(const SdpaWithoutCudnn&) = delete;

 private:
  bool previous_;
};

// q [B,H,K] at the position after the cache; k [B,L,H,K] and v [B,L,H,V] hold every key up to
// and including this token's own. key_counts [B] int64 (optional, sequences of different
// lengths): sequence b sees only its first key_counts[b] keys. Returns [B,H,V].
torch::Tensor attention_step(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                             double scale, const torch::Tensor& key_counts = {});

// Chunk-sparse attention over a training batch's runs of mode-A tokens (AttentionRuns):
//   q [Nq,H,K] the queries of runs.q_rows; k [B*T,H,K], v [B*T,H,V] every position's keys
//   and values; returns [Nq,H,V], each run's queries against its sequence's keys up to the
//   run's end (bottom-right causal).
// On CUDA in bf16/fp16 (head dims equal, a multiple of 8, at most 256) one varlen flash
// kernel covers all runs forward and backward (the keys gathered per run, their gradients
// summed back in fp32); otherwise, and with ORYX_FORCE_REFERENCE=1, attention_chunked runs
// run by run.
torch::Tensor attention_runs(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                             const AttentionRuns& runs, double scale);
// The run-by-run form, whatever the device (the reference attention_runs is tested against).
torch::Tensor attention_runs_reference(const torch::Tensor& q, const torch::Tensor& k,
                                       const torch::Tensor& v, const AttentionRuns& runs, double scale);

// Validates shapes and returns q_pos made explicit (on q's device).
torch::Tensor attention_check_inputs(const char* op, const torch::Tensor& q, const torch::Tensor& k,
                                     const torch::Tensor& v, const torch::Tensor& q_pos);

}  // namespace oryx
