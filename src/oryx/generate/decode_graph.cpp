#include "oryx/generate/decode_graph.h"

#ifdef ORYX_WITH_CUDA_KERNELS

#include <c10/cuda/CUDAGuard.h>

#include <algorithm>
#include <cmath>

#include "oryx/common/error.h"
#include "oryx/kernels/decode_layer_ops.h"
#include "oryx/kernels/ops_common.h"

namespace oryx {

bool DecodeGraph::available(const torch::Device& device) { return device.is_cuda() && torch::cuda::is_available(); }

DecodeGraph::DecodeGraph(OryxModel model, ModelCache& cache, int64_t vocab_limit, bool fused)
    : model_(std::move(model)),
      cache_(cache),
      vocab_limit_(vocab_limit),
      stream_(c10::cuda::getStreamFromPool(/*isHighPriority=*/false, model_->device().index())) {
  auto dev = model_->device();
  ORYX_CHECK(dev.is_cuda(), "decode graphs need a CUDA device, the model is on ", dev);
  int64_t B = cache.batch();
  auto longs = torch::TensorOptions().dtype(torch::kLong);
  tokens_ = torch::zeros({B, 1}, longs.device(dev));
  out_ = torch::zeros({2 * B}, longs.device(dev));
  out_host_ = torch::empty({2 * B}, longs.pinned_memory(true));
  in_host_ = torch::empty({B, 1}, longs.pinned_memory(true));
  std::string why = fused ? FusedDecode::unsupported(*model_, cache) : "not asked for";
  if (why.empty()) fused_.emplace(*model_);
  path_ = why.empty() ? "fused graph" : "graph, step path (" + why + ")";
}

void DecodeGraph::body(const TokenModes& modes, bool mode_a) {
  int64_t B = cache_.batch();
  auto logits = fused_ ? fused_->step(tokens_, mode_a, cache_) : model_->decode_step(tokens_, modes, cache_);  // [B,V] fp32
  int64_t V = logits.size(-1);
  int64_t limit = vocab_limit_ > 0 && vocab_limit_ < V ? vocab_limit_ : V;
  if (kernels::is_hopper(logits) && logits.is_contiguous()) {
    kernels_decode_pick(logits, limit, out_);  // one kernel for the picks and the finite check
    return;
  }
  out_.narrow(0, B, B).copy_(torch::isfinite(logits).logical_not().sum(-1));
  if (limit < V) logits.narrow(-1, limit, V - limit).fill_(-INFINITY);
  out_.narrow(0, 0, B).copy_(logits.argmax(-1));
}

DecodeGraph::Picks DecodeGraph::step(const std::vector<int64_t>& tokens, bool mode_a) {
  int64_t B = cache_.batch();
  ORYX_CHECK(static_cast<int64_t>(tokens.size()) == B, "decode graph: ", tokens.size(), " ids for a batch of ", B);
  c10::cuda::CUDAGuard device_guard(model_->device());
  // The prefill (and anything else before) ran on the caller's stream: order after it.
  at::cuda::CUDAEvent ready;
  ready.record(c10::cuda::getCurrentCUDAStream());
  c10::cuda::CUDAStreamGuard stream_guard(stream_);
  ready.block(stream_);
  std::copy(tokens.begin(), tokens.end(), in_host_.data_ptr<int64_t>());
  tokens_.copy_(in_host_, /*non_blocking=*/true);

  auto& g = graphs_[mode_a];
  const bool replay = g.graph != nullptr;
  if (g.steps == 0)
    g.modes = TokenModes::from_mask(torch::full({B, 1}, mode_a, torch::kBool), B, model_->device());
  if (g.steps == 0) {
    body(g.modes, mode_a);  // eager: warms cuBLAS and the caching allocator on this stream
  } else {
    if (!g.graph) {
      g.graph = std::make_unique<at::cuda::CUDAGraph>();
      g.graph->capture_begin();
      body(g.modes, mode_a);
      g.graph->capture_end();
    }
    g.graph->replay();
  }
  ++g.steps;
  cache_.advance(1);
  out_host_.copy_(out_, /*non_blocking=*/true);
  stream_.synchronize();  // the ids are needed on the host (stops, output) before the next step

  Picks p;
  const int64_t* o = out_host_.data_ptr<int64_t>();
  p.next.assign(o, o + B);
  p.finite = std::all_of(o + B, o + 2 * B, [](int64_t bad) { return bad == 0; });
  p.replayed = replay;
  return p;
}

}  // namespace oryx

#endif  // ORYX_WITH_CUDA_KERNELS
