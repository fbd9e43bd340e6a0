#include "oryx/train/step_graph.h"

#include <cstdlib>
#include <string>

#include "oryx/common/error.h"
#include "oryx/common/shape.h"
#include "oryx/mixers/dispatch.h"
#include "oryx/model/head_loss.h"
#include "oryx/train/autocast.h"
#include "oryx/train/grad_norm.h"

#ifdef ORYX_WITH_CUDA_KERNELS
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAGuard.h>
#endif

namespace oryx {

bool TrainStepGraph::usable(torch::Device device, bool distributed, int64_t grad_accum) {
#ifdef ORYX_WITH_CUDA_KERNELS
  const char* e = std::getenv("ORYX_TRAIN_GRAPHS");
  if (e && std::string(e) == "0") return false;
  return device.is_cuda() && !distributed && grad_accum == 1 && !reference_forced();
#else
  (void)device, (void)distributed, (void)grad_accum;
  return false;
#endif
}

#ifdef ORYX_WITH_CUDA_KERNELS

// Whether an Oryx model's [B,T] mask has tokens in both modes (the masks one mask-independent
// step serves).
bool mixed_mask(const torch::Tensor& mask, const torch::Tensor& tokens) {
  return mask.dim() == 2 && mask.sizes() == tokens.sizes() && tokens.size(1) > 1 && mask.any().item<bool>() &&
         !mask.all().item<bool>();
}

// A batch shape and mode mask, with what its steps read on the device. A case for any mixed
// mask (TokenModes::for_any_mixed_mask) serves every such mask of its shape: its steps copy
// their mask into the modes' device buffer.
struct StepCase {
  torch::Tensor mask;  // CPU bool [T] or [B,T]; undefined for any mixed mask
  TokenModes modes;    // built once, on the device
  torch::Tensor tokens, targets, tokens_host, targets_host, mask_host;  // device buffers, pinned staging
  int steps = 0;

  bool any_mask() const { return !mask.defined(); }
  bool matches(const torch::Tensor& t, const torch::Tensor& m) const {
    if (!tokens.defined() || tokens.sizes() != t.sizes()) return false;
    return any_mask() ? mixed_mask(m, t) : mask.sizes() == m.sizes() && torch::equal(mask, m);
  }
};

struct TrainStepGraph::State {
  OryxModel model;
  bool autocast;
  double grad_clip;
  std::vector<torch::Tensor> params;
  c10::cuda::CUDAStream stream;
  at::cuda::CUDAEvent staged;  // the last copies out of a staging buffer
  StepCase last;               // the case of the last eager steps
  StepCase captured_case;      // the case the graph was captured for
  std::unique_ptr<at::cuda::CUDAGraph> graph;
  Out captured;                      // the graph's outputs
  std::vector<torch::Tensor> grads;  // the graph's gradient of each parameter (undefined: none)

  State(OryxModel m, bool ac, double clip)
      : model(std::move(m)),
        autocast(ac),
        grad_clip(clip),
        params(model->parameters()),
        stream(c10::cuda::getStreamFromPool(/*isHighPriority=*/false, model->device().index())) {}

  // `any_mask`: the case serves every mixed mask of this shape (the sampler's batches).
  StepCase make_case(const torch::Tensor& tokens, const torch::Tensor& mask, bool any_mask) const {
    ORYX_CHECK(mask.scalar_type() == torch::kBool && (mask.dim() == 1 || mask.dim() == 2),
               "train step: the mode mask must be bool [T] or [B,T], got ", shape_str(mask.sizes()));
    const int64_t B = tokens.size(0), T = tokens.size(1);
    StepCase c;
    if (any_mask) {
      c.modes = TokenModes::for_any_mixed_mask(B, T, model->device());
      c.mask_host = torch::empty({B, T}, torch::TensorOptions().dtype(torch::kBool).pinned_memory(true));
    } else {
      c.mask = mask.clone();
      c.modes = TokenModes::from_mask(c.mask, B, model->device(), /*with_runs=*/true);
    }
    c.tokens = torch::empty({B, T}, torch::TensorOptions().dtype(torch::kLong).device(model->device()));
    c.targets = torch::empty_like(c.tokens);
    c.tokens_host = torch::empty({B, T}, torch::TensorOptions().dtype(torch::kLong).pinned_memory(true));
    c.targets_host = torch::empty_like(c.tokens_host);
    return c;
  }

  // Into the case's device buffers, through pinned memory (no host wait).
  void stage(StepCase& c, const torch::Tensor& tokens, const torch::Tensor& targets, const torch::Tensor& mask) {
    staged.synchronize();  // the previous copies have left their staging buffers
    c.tokens_host.copy_(tokens);
    c.targets_host.copy_(targets);
    c.tokens.copy_(c.tokens_host, /*non_blocking=*/true);
    c.targets.copy_(c.targets_host, /*non_blocking=*/true);
    if (c.any_mask()) {
      c.mask_host.copy_(mask);
      c.modes.is_attention.copy_(c.mask_host, /*non_blocking=*/true);
    }
    staged.record(stream);
  }

  Out body(const StepCase& c) {
    torch::Tensor loss;
    {
      AutocastScope scope(autocast);
      loss = model_loss(model, c.tokens, c.modes, c.targets);
    }
    loss.backward();
    auto norm = grad_norm_clip_(params, grad_clip);
    return {loss.detach(), norm, false};
  }

  // The parameters' gradients as the graph left them: its buffers, and none where the
  // captured backward reached no parameter (an eager step of another case may have made one).
  void restore_grads() {
    for (size_t i = 0; i < params.size(); ++i)
      if (!params[i].grad().is_same(grads[i])) params[i].mutable_grad() = grads[i];
  }

  Out replay() {
    restore_grads();
    graph->replay();
    Out out = captured;
    out.replayed = true;
    return out;
  }

  // The backward of a captured step writes every gradient afresh into the graph's memory
  // (AccumulateGrad keeps, without adding, the gradient it is handed when a parameter has
  // none), so each replay overwrites them.
  Out capture(StepCase c) {
    for (auto& p : params) p.mutable_grad().reset();
    captured_case = std::move(c);
    graph = std::make_unique<at::cuda::CUDAGraph>();
    try {
      graph->capture_begin();
      captured = body(captured_case);
      graph->capture_end();
    } catch (const std::exception& e) {
      ORYX_FAIL("capturing the training step as a CUDA graph failed (ORYX_TRAIN_GRAPHS=0 trains without): ",
                e.what());
    }
    grads.clear();
    for (auto& p : params) grads.push_back(p.grad());
    // The eager steps' blocks stay cached in the ordinary pool beside the graph's own: give
    // them back, so the process holds a step's activations once.
    c10::cuda::CUDACachingAllocator::emptyCache();
    return replay();
  }

  // A step of a case the graph does not serve, into the graph's gradient buffers when there
  // is one (zeroed first: the backward adds into gradients that exist).
  Out eager(const StepCase& c) {
    if (graph) {
      restore_grads();
      std::vector<torch::Tensor> defined;
      for (auto& g : grads)
        if (g.defined()) defined.push_back(g);
      torch::NoGradGuard no_grad;
      if (!defined.empty()) at::_foreach_zero_(defined);
    }
    return body(c);
  }
};

TrainStepGraph::TrainStepGraph(OryxModel model, bool autocast, double grad_clip) {
  ORYX_CHECK(model->device().is_cuda(), "train step graphs need a CUDA device, the model is on ", model->device());
  s_ = std::make_unique<State>(std::move(model), autocast, grad_clip);
}

TrainStepGraph::~TrainStepGraph() = default;

bool TrainStepGraph::owns_grads() const { return s_->graph != nullptr; }

TrainStepGraph::Out TrainStepGraph::step(const torch::Tensor& tokens, const torch::Tensor& targets,
                                         const torch::Tensor& modes) {
  auto& s = *s_;
  const auto& cfg = s.model->config();
  ORYX_CHECK(tokens.device().is_cpu() && targets.device().is_cpu() && tokens.dim() == 2 &&
                 tokens.scalar_type() == torch::kLong && targets.sizes() == tokens.sizes() &&
                 targets.scalar_type() == torch::kLong,
             "train step: tokens and targets must be CPU int64 [B,T] of one shape, got ", shape_str(tokens.sizes()),
             " and ", shape_str(targets.sizes()));
  auto mask = modes.defined() ? modes : s.model->default_modes(tokens.size(1));
  ORYX_CHECK(mask.device().is_cpu(), "train step: the mode mask must be on the CPU");
  s.model->check_inputs(tokens, mask, 0);  // on the CPU: the graph replays without reading them

  c10::cuda::CUDAGuard device_guard(s.model->device());
  // Everything before (the last update) ran on the caller's stream: order after it, and the
  // caller's later work after this step.
  auto caller = c10::cuda::getCurrentCUDAStream();
  at::cuda::CUDAEvent ready;
  ready.record(caller);
  c10::cuda::CUDAStreamGuard stream_guard(s.stream);
  ready.block(s.stream);

  Out out;
  if (s.graph && s.captured_case.matches(tokens, mask)) {
    s.stage(s.captured_case, tokens, targets, mask);
    out = s.replay();
  } else {
    if (!s.last.matches(tokens, mask)) {
      // An Oryx model whose mixed masks change between steps of one shape (the training
      // sampler's) gets the case that serves them all.
      const bool varying = cfg.kind == ModelKind::Oryx && s.last.tokens.defined() &&
                           s.last.tokens.sizes() == tokens.sizes() && mixed_mask(mask, tokens);
      s.last = s.make_case(tokens, mask, varying);
    }
    s.stage(s.last, tokens, targets, mask);
    // The second step of a case captures it (the first warmed cuBLAS, cuDNN and the allocator).
    out = !s.graph && s.last.steps >= 1 ? s.capture(std::move(s.last)) : s.eager(s.last);
    ++s.last.steps;
  }
  at::cuda::CUDAEvent done;
  done.record(s.stream);
  done.block(caller);
  return out;
}

#else  // !ORYX_WITH_CUDA_KERNELS

struct TrainStepGraph::State {};

TrainStepGraph::TrainStepGraph(OryxModel, bool, double) {
  ORYX_FAIL("train step graphs need a build with the CUDA kernels (ORYX_CUDA=ON)");
}
TrainStepGraph::~TrainStepGraph() = default;
bool TrainStepGraph::owns_grads() const { return false; }
TrainStepGraph::Out TrainStepGraph::step(const torch::Tensor&, const torch::Tensor&, const torch::Tensor&) {
  ORYX_FAIL("train step graphs need a build with the CUDA kernels (ORYX_CUDA=ON)");
}

#endif  // ORYX_WITH_CUDA_KERNELS

}  // namespace oryx
