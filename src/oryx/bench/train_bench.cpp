#include "oryx/bench/train_bench.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <optional>

#include "oryx/bench/device_stats.h"
#include "oryx/bench/kernel_bench.h"
#include "oryx/bench/step_profile.h"
#include "oryx/common/device.h"
#include "oryx/common/error.h"
#include "oryx/dist/grad_sync.h"
#include "oryx/dist/world.h"
#include "oryx/mixers/dispatch.h"
#include "oryx/model/head_loss.h"
#include "oryx/model/model.h"
#include "oryx/schedule/schedule.h"
#include "oryx/schedule/train_sampler.h"
#include "oryx/train/adamw.h"
#include "oryx/train/autocast.h"
#include "oryx/train/grad_norm.h"
#include "oryx/train/step_graph.h"

#ifdef ORYX_WITH_CUDA_KERNELS
#include <ATen/cuda/CUDAContext.h>
#include <cuda_runtime_api.h>
#endif

namespace oryx::bench {

namespace {

constexpr int64_t kMaxTokensPerStep = int64_t{1} << 24;  // 16M tokens: far past any GPU's memory

// The modes of the next step's batch: the training sampler, a fixed schedule, or the single
// mode of a baseline (undefined: the model's default).
class StepModes {
 public:
  StepModes(const ModelConfig& c, const std::string& spec, uint64_t seed)
      : sampler_(TrainScheduleOptions{c.chunk_size}, seed) {
    if (c.kind != ModelKind::Oryx) {
      const char* own = c.kind == ModelKind::Transformer ? "all-A" : "all-L";
      ORYX_CHECK(spec == "sampler" || spec == own, "bench train: model '", c.name, "' runs only ", own,
                 ", not --schedule ", spec);
      describe_ = own;
      return;
    }
    if (spec == "sampler") {
      use_sampler_ = true;
      describe_ = "sampler (p_all_a 0.25, p_all_l 0.25, chunk " + std::to_string(c.chunk_size) + ")";
    } else {
      fixed_ = schedule_parse(spec);
      describe_ = fixed_.describe();
    }
  }

  torch::Tensor next(const ModelConfig& c, int64_t B, int64_t T) {
    if (c.kind == ModelKind::Transformer) return torch::ones({B, T}, torch::kBool);
    if (c.kind == ModelKind::Linear) return torch::zeros({B, T}, torch::kBool);
    if (use_sampler_) return sampler_.sample(B, T);
    return fixed_.prompt_modes(T).unsqueeze(0).expand({B, T}).contiguous();
  }
  const std::string& describe() const { return describe_; }

 private:
  TrainModeSampler sampler_;
  bool use_sampler_ = false;
  Schedule fixed_;
  std::string describe_;
};

// Times one call of fn: CUDA events around it on the device, the wall clock on the CPU.
class StepTimer {
 public:
  explicit StepTimer(torch::Device d) : cuda_(d.is_cuda()) {}
  double time_ms(const std::function<void()>& fn) {
#ifdef ORYX_WITH_CUDA_KERNELS
    if (cuda_) {
      cudaStream_t stream = at::cuda::getCurrentCUDAStream();
      cudaEvent_t start, stop;
      cudaEventCreate(&start);
      cudaEventCreate(&stop);
      cudaEventRecord(start, stream);
      fn();
      cudaEventRecord(stop, stream);
      cudaEventSynchronize(stop);
      float ms = 0;
      cudaEventElapsedTime(&ms, start, stop);
      cudaEventDestroy(start);
      cudaEventDestroy(stop);
      return ms;
    }
#endif
    ORYX_CHECK(!cuda_, "bench train: this build has no CUDA timing (build with ORYX_CUDA=ON)");
    auto t0 = std::chrono::steady_clock::now();
    fn();
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  }

 private:
  bool cuda_;
};

}  // namespace

double train_step_flops(const ModelConfig& c, const ParamCounts& counts, int64_t embed_numel,
                        const torch::Tensor& modes) {
  const double tokens = static_cast<double>(modes.numel());
  const int64_t B = modes.size(0), T = modes.size(1);
  auto a = modes.to(torch::kCPU).to(torch::kBool);
  const double a_tokens = a.sum().item<double>();
  // Sum over mode-A tokens of (t + 1): the keys each one attends to.
  auto pos = torch::arange(1, T + 1, torch::kFloat64).unsqueeze(0).expand({B, T});
  const double a_keys = (pos * a.to(torch::kFloat64)).sum().item<double>();

  double shared = static_cast<double>(counts.shared - (c.tie_embeddings ? 0 : embed_numel));
  double flops = 6 * shared * tokens;
  if (c.has_linear()) flops += 6 * static_cast<double>(counts.linear_only) * tokens;
  if (c.has_attention()) flops += 6 * static_cast<double>(counts.attention_only) * a_tokens;
  const double H = static_cast<double>(c.n_heads), K = static_cast<double>(c.head_dim_k),
               V = static_cast<double>(c.head_dim_v), L = static_cast<double>(c.n_layers);
  flops += L * 6 * H * (K + V) * a_keys;
  if (c.has_linear()) {
    bool gdn = c.linear == LinearKind::GatedDeltaNet;
    double per_chunk = chunk_flops(gdn, false, c.head_dim_k, c.head_dim_v) +
                       chunk_flops(gdn, true, c.head_dim_k, c.head_dim_v);
    flops += L * H * per_chunk / 64.0 * tokens;
  }
  return flops;
}

TrainBenchResult bench_train(const TrainBenchOptions& o) {
  ORYX_CHECK(!o.config.empty(), "bench train: give a model config (--config FILE)");
  ORYX_CHECK(o.batch_size >= 1 && o.seq_len >= 1, "bench train: --batch-size and --seq-len must be positive");
  ORYX_CHECK(o.batch_size <= kMaxTokensPerStep / o.seq_len, "bench train: --batch-size x --seq-len is ",
             "over ", kMaxTokensPerStep, " tokens a step");
  ORYX_CHECK(o.steps >= 1 && o.steps <= 100000, "bench train: --steps must be in [1, 100000], got ", o.steps);
  ORYX_CHECK(o.warmup >= 0 && o.warmup <= 100000, "bench train: --warmup must be in [0, 100000], got ", o.warmup);
  const WorldEnv env = world_env_read();
  torch::Device device = world_device(o.device, env);
  ORYX_CHECK(o.precision == "auto" || o.precision == "fp32" || o.precision == "bf16",
             "bench train: --precision must be auto, fp32 or bf16, got '", o.precision, "'");
  const bool autocast = o.precision == "bf16" || (o.precision == "auto" && device.is_cuda());
  ORYX_CHECK(!autocast || device.is_cuda(), "bench train: precision bf16 needs a CUDA device");

  ModelConfig cfg = config_load(o.config);
  ORYX_CHECK(o.seq_len <= cfg.max_seq_len, "bench train: --seq-len ", o.seq_len, " exceeds the model's max_seq_len ",
             cfg.max_seq_len);
  StepModes modes_for(cfg, o.schedule, o.seed);
  auto model = model_create(cfg, o.seed);
  const ParamCounts counts = param_counts(*model);
  const int64_t embed_numel = cfg.vocab_size * cfg.d_model;
  model->to(device);
  model->train();
  std::vector<std::pair<std::string, torch::Tensor>> params;
  for (const auto& p : model->named_parameters()) params.emplace_back(p.key(), p.value());
  AdamWOptions adamw;
  adamw.lr = 1e-4;
  AdamW optimizer(params, adamw);
  World world(env, device);
  GradSync grad_sync(world, params, cfg.kind == ModelKind::Oryx);

  torch::manual_seed(o.seed + static_cast<uint64_t>(world.rank()));  // each rank its own tokens
  // On the CPU, as the trainer's batches come.
  auto data = torch::randint(cfg.vocab_size, {o.batch_size, o.seq_len + 1}, torch::kLong);
  auto inputs = data.narrow(1, 0, o.seq_len).contiguous(), targets = data.narrow(1, 1, o.seq_len).contiguous();

  TrainBenchResult r;
  torch::Tensor last_loss;
  double flops_sum = 0, a_sum = 0;
  // One step as the trainer takes it (one micro-batch): forward under autocast, the fused
  // head + loss, backward, global-norm clipping at 1.0, AdamW, zero_grad, and the one read
  // of loss and norm.
  // With several processes the gradients are all-reduced as in training (all_reduce), or not
  // at all: the same step on one GPU alone, for the scaling efficiency.
  bool all_reduce = world.distributed();
  // As the trainer: one process steps through a CUDA graph when the batch's mask repeats.
  std::optional<TrainStepGraph> step_graph;
  if (TrainStepGraph::usable(device, world.distributed(), 1)) step_graph.emplace(model, autocast, 1.0);
  int64_t replayed = 0;
  auto step = [&](const torch::Tensor& modes_cpu) {
    auto modes = cfg.kind == ModelKind::Oryx ? modes_cpu : torch::Tensor();  // on the CPU, as the trainer passes them
    torch::Tensor loss, norm;
    if (step_graph) {
      auto out = step_graph->step(inputs, targets, modes);
      loss = out.loss;
      norm = out.grad_norm;
      replayed += out.replayed;
    } else {
      {
        AutocastScope scope(autocast);
        loss = model_loss(model, inputs, modes, targets);
      }
      if (all_reduce) grad_sync.prepare(loss);
      loss.backward();
      norm = grad_norm_clip_(model->parameters(), 1.0);
    }
    // The trainer reads the norm with the loss once per step (train/trainer.cpp); so do we.
    last_loss = loss.detach();
    torch::stack({last_loss.to(torch::kFloat32), norm.to(torch::kFloat32)}).to(torch::kCPU);
    optimizer.step(adamw.lr);
    if (!step_graph || !step_graph->owns_grads()) optimizer.zero_grad();
  };

  StepTimer timer(device);
  // The peak from the first step on: a captured step allocates its activations once, while
  // being captured (in a warm-up step), and holds them.
  peak_memory_reset(device);
  for (int64_t i = 0; i < o.warmup; ++i) step(modes_for.next(cfg, o.batch_size, o.seq_len));
  replayed = 0;
  std::vector<double> ms;
  for (int64_t i = 0; i < o.steps; ++i) {
    auto modes = modes_for.next(cfg, o.batch_size, o.seq_len);
    ms.push_back(timer.time_ms([&] { step(modes); }));
    flops_sum += train_step_flops(cfg, counts, embed_numel, modes);
    a_sum += modes.to(torch::kFloat64).mean().item<double>();
  }
  r.peak_mem_gb = peak_memory_gb(device);
  r.final_loss = last_loss.item<double>();
  ORYX_CHECK(std::isfinite(r.final_loss), "bench train: the loss is not finite (", r.final_loss, ")");

  std::vector<double> sorted = ms;
  std::sort(sorted.begin(), sorted.end());
  r.step_ms = sorted[sorted.size() / 2];
  r.step_ms_min = sorted.front();
  r.step_ms_max = sorted.back();
  r.processes = world.size();
  if (world.distributed()) {
    // The same steps without the all-reduce: each GPU alone. The slowest rank sets the pace.
    all_reduce = false;
    std::vector<double> alone;
    for (int64_t i = 0; i < o.steps; ++i) {
      auto modes = modes_for.next(cfg, o.batch_size, o.seq_len);
      alone.push_back(timer.time_ms([&] { step(modes); }));
    }
    std::sort(alone.begin(), alone.end());
    auto medians = torch::tensor({r.step_ms, alone[alone.size() / 2]}, torch::kFloat64).to(device);
    world.all_reduce_max(medians);
    medians = medians.cpu();
    r.step_ms = medians[0].item<double>();
    r.step_ms_alone = medians[1].item<double>();
    r.scaling_efficiency = r.step_ms_alone / r.step_ms;
    r.reports = world.is_main();
  }
  r.model = cfg.name;
  r.kind = cfg.kind == ModelKind::Oryx ? "oryx" : cfg.kind == ModelKind::Transformer ? "transformer" : "linear";
  r.device = device.str();
  r.precision = autocast ? "bf16 autocast" : "fp32";
  r.schedule = modes_for.describe();
  r.params = counts.total;
  r.batch_size = o.batch_size;
  r.seq_len = o.seq_len;
  r.steps = o.steps;
  r.tokens_per_s_per_gpu = static_cast<double>(o.batch_size * o.seq_len) / (r.step_ms / 1e3);
  r.tokens_per_s = r.tokens_per_s_per_gpu * static_cast<double>(r.processes);
  r.flops_per_step = flops_sum / static_cast<double>(o.steps);
  r.model_tflops = r.flops_per_step / (r.step_ms / 1e3) / 1e12;
  if (device.is_cuda()) r.mfu = r.model_tflops / o.peak_tflops;
  r.attention_fraction = a_sum / static_cast<double>(o.steps);
  auto probe = torch::empty({1, 64, cfg.n_heads, cfg.head_dim_k},
                            torch::TensorOptions().device(device).dtype(autocast ? torch::kBFloat16 : torch::kFloat32));
  r.backends["step"] = replayed == o.steps ? "CUDA graph"
                       : replayed == 0      ? "eager"
                                            : "CUDA graph for " + std::to_string(replayed) + " of the steps";
  if (cfg.has_attention()) r.backends["attention"] = "torch SDPA";
  if (cfg.has_linear())
    r.backends[cfg.linear == LinearKind::GatedDeltaNet ? "gdn" : "mamba2"] = linear_backend_name(probe);

  if (!o.profile.empty()) {
    auto modes = modes_for.next(cfg, o.batch_size, o.seq_len);
    r.profile = profile_step([&] { step(modes); }, device);
  }
  return r;
}

}  // namespace oryx::bench
