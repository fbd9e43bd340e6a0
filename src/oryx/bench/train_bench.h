// `oryx bench train`: the speed of the whole training step (forward, loss, backward, gradient
// clipping, AdamW) on synthetic tokens, the way `oryx train` runs it, so no dataset is needed.
//
// Each step is timed with CUDA events on the device (wall clock on the CPU) after warm-up
// steps; the median is reported. Model FLOPs per step (stated in docs/perf.md):
//
//   6 N_t per token t                    N_t: the parameters token t multiplies (embedding
//                                        lookup excluded; for an Oryx model the shared ones,
//                                        the linear mixer's for every token, since every token
//                                        updates the state, and the attention mixer's for
//                                        tokens in mode A)
// + 6 H (K + V) (t + 1) per layer        for each mode-A token at position t (causal attention:
//                                        QK^T and PV, forward + backward = 3x forward)
// + 3 H chunk_flops(K, V) / 64 per layer for every token of a model with a linear mixer (the
//                                        chunked recurrence, forward and backward, as
//                                        docs/kernels.md counts it)
//
// MFU divides model FLOP/s by the dense bf16 peak of the GPU (989 TFLOP/s for H100 and H200,
// the figure the peers' scripts use).
#pragma once
#include <torch/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "oryx/config/model_config.h"
#include "oryx/model/params.h"

namespace oryx::bench {

struct TrainBenchOptions {
  std::string config;             // model config (JSON)
  int64_t batch_size = 8;
  int64_t seq_len = 2048;
  int64_t steps = 20;             // timed steps (median reported)
  int64_t warmup = 3;             // untimed steps first (allocator, cuBLAS, kernels warm)
  std::string schedule = "sampler";  // Oryx: "sampler" (the training sampler) or an inference
                                     // schedule (all-A, every:10:64, ...); others: their mode
  std::string device = "auto";
  std::string precision = "auto";    // auto: bf16 autocast on CUDA, fp32 on the CPU
  double peak_tflops = 989;          // for MFU (dense bf16 of H100/H200)
  std::string profile;               // non-empty: write one profiled step's kernel table here
  uint64_t seed = 1;
};

struct KernelTime {
  std::string name;
  std::string group;   // gemm, attention, linear-mixer, fused-layer, loss, elementwise, reduction, conv,
                       // copy/index, optimizer, other (step_profile.cpp: kernel_group)
  double total_us = 0;
  int64_t calls = 0;
};

struct StepProfile {
  double step_ms = 0;          // wall time of the profiled step
  double kernel_ms = 0;        // sum of its GPU kernel times
  int64_t kernels = 0;         // kernel launches in the step
  std::vector<KernelTime> by_kernel;            // sorted by total time, largest first
  std::map<std::string, double> by_group_ms;    // the same summed per group
};

struct TrainBenchResult {
  std::string model, kind, device, precision, schedule;
  int64_t params = 0, batch_size = 0, seq_len = 0, steps = 0;
  double step_ms = 0, step_ms_min = 0, step_ms_max = 0;
  double tokens_per_s = 0;          // over all processes
  // Data-parallel runs (`--nproc-per-node N`, or under torchrun): B x T per process, step_ms
  // the slowest rank's median with the gradient all-reduce, step_ms_alone the same step
  // without it (one GPU's speed, timed after), scaling_efficiency their ratio.
  int64_t processes = 1;
  double tokens_per_s_per_gpu = 0;
  double step_ms_alone = -1;        // < 0: one process
  double scaling_efficiency = -1;   // < 0: one process
  bool reports = true;              // rank 0 prints
  double flops_per_step = 0, model_tflops = 0;
  double mfu = -1;                 // < 0: not reported (CPU)
  double peak_mem_gb = -1;         // < 0: not reported (CPU)
  double attention_fraction = 0;   // over the timed steps' tokens
  std::map<std::string, std::string> backends;  // mixer -> implementation used
  double final_loss = 0;           // sanity: the last step's loss (finite)
  StepProfile profile;             // filled when options.profile is set
};

TrainBenchResult bench_train(const TrainBenchOptions& options);

// Model FLOPs of one training step (the formula above) for `modes` [B,T] bool (true = A);
// `counts` are the model's parameter counts by role, `embed_numel` the embedding table's size.
double train_step_flops(const ModelConfig& c, const ParamCounts& counts, int64_t embed_numel,
                        const torch::Tensor& modes);

}  // namespace oryx::bench
