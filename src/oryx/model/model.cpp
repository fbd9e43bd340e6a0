#include "oryx/model/model.h"

#include <optional>

#include "oryx/checkpoint/weights.h"
#include "oryx/common/device.h"
#include "oryx/common/error.h"
#include "oryx/common/shape.h"
#include "oryx/layer/init.h"
#include "oryx/layer/ops.h"

namespace oryx {

OryxModelImpl::OryxModelImpl(const ModelConfig& c) : c_(c) {
  embed = register_parameter("embed", init_normal({c.vocab_size, c.d_model}, c.init_std));
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < c.n_layers; ++i) layers->push_back(OryxLayer(c));
  final_norm = register_parameter("final_norm", torch::ones({c.d_model}));
  if (!c.tie_embeddings)
    lm_head = register_parameter("lm_head", init_linear(c.vocab_size, c.d_model, c.init_std));
}

torch::Tensor OryxModelImpl::default_modes(int64_t T) const {
  ORYX_CHECK(c_.kind != ModelKind::Oryx, "model '", c_.name,
             "' is an oryx model: give a mode schedule (for example all-A, all-L, last:64)");
  auto opts = torch::TensorOptions().dtype(torch::kBool);
  return c_.kind == ModelKind::Transformer ? torch::ones({T}, opts) : torch::zeros({T}, opts);
}

void OryxModelImpl::check_inputs(const torch::Tensor& tokens, const torch::Tensor& modes,
                                 int64_t cache_length) const {
  ORYX_CHECK(tokens.dim() == 2, "tokens must be [B,T], got ", shape_str(tokens.sizes()));
  ORYX_CHECK(tokens.scalar_type() == torch::kLong, "tokens must be int64, got ", tokens.scalar_type());
  int64_t T = tokens.size(1);
  ORYX_CHECK(cache_length + T <= c_.max_seq_len, "sequence of ", cache_length + T,
             " tokens is longer than the model's max_seq_len of ", c_.max_seq_len);
  if (tokens.numel() > 0) {
    // One read of both extremes (on a GPU, the forward's one host synchronisation).
    auto [lo_t, hi_t] = torch::aminmax(tokens);
    auto range = torch::stack({lo_t, hi_t}).to(torch::kCPU);
    int64_t lo = range[0].item<int64_t>(), hi = range[1].item<int64_t>();
    ORYX_CHECK(lo >= 0 && hi < c_.vocab_size, "token id ", lo < 0 ? lo : hi,
               " is out of range for vocab_size ", c_.vocab_size);
  }
  if (!modes.defined()) return;
  ORYX_CHECK(modes.size(-1) == T, "mode mask covers ", modes.size(-1), " tokens, the input has ", T);
  if (c_.kind == ModelKind::Transformer)
    ORYX_CHECK(modes.all().item<bool>(), "model '", c_.name,
               "' is a transformer: every token must be in mode A");
  if (c_.kind == ModelKind::Linear)
    ORYX_CHECK(!modes.any().item<bool>(), "model '", c_.name,
               "' is a linear model: every token must be in mode L");
}

torch::Tensor OryxModelImpl::hidden(const torch::Tensor& tokens, const torch::Tensor& modes_in,
                                    ModelCache* cache, MixerForm form) {
  // A cache whose sequences differ in length (batched generation) is decoded one token per
  // sequence, each at its own position; equal lengths take the one-position-list path.
  const bool per_sequence = cache && !cache->uniform();
  int64_t L = !cache ? 0 : per_sequence ? cache->max_active_length() : cache->length();
  check_inputs(tokens, modes_in, L);
  int64_t B = tokens.size(0), T = tokens.size(1);
  if (cache) {
    ORYX_CHECK(cache->batch() == B, "cache holds ", cache->batch(), " sequences, input has ", B);
    ORYX_CHECK(!per_sequence || (T == 1 && form == MixerForm::Auto),
               "a cache whose sequences differ in length takes one token per sequence in the Auto form, got ", T);
    cache->check_room(T);
  }
  // Without a cache, each sequence's own mode-A runs are its attention queries (training).
  auto modes = TokenModes::from_mask(modes_in.defined() ? modes_in : default_modes(T), B, device(),
                                     /*with_runs=*/!cache && form == MixerForm::Auto);
  // [T] for the batch, or [B,1] each sequence's own (read on the device, no host sync).
  auto positions = per_sequence ? cache->lengths().unsqueeze(1)
                                : torch::arange(L, L + T, torch::TensorOptions().dtype(torch::kLong).device(device()));
  auto h = run_layers(tokens, modes, positions, cache, L, form);
  if (cache) cache->advance(T);
  return h;
}

torch::Tensor OryxModelImpl::hidden(const torch::Tensor& tokens, const TokenModes& modes) {
  int64_t T = tokens.size(1);
  auto positions = torch::arange(T, torch::TensorOptions().dtype(torch::kLong).device(device()));
  return run_layers(tokens, modes, positions, nullptr, 0, MixerForm::Auto);
}

torch::Tensor OryxModelImpl::run_layers(const torch::Tensor& tokens, const TokenModes& modes,
                                        const torch::Tensor& positions, ModelCache* cache, int64_t L,
                                        MixerForm form) {
  int64_t B = tokens.size(0), T = tokens.size(1);
  Residual r{embed.index_select(0, tokens.reshape({-1}).to(device())).view({B, T, c_.d_model}), {}};
  for (int64_t i = 0; i < c_.n_layers; ++i)
    r = layers->at<OryxLayerImpl>(i).forward(r, modes, positions, cache ? &cache->layer(i) : nullptr,
                                             L, form);
  return add_rms_norm(r.h, r.delta, final_norm, c_.norm_eps).x;
}

torch::Tensor OryxModelImpl::decode_step(const torch::Tensor& tokens, const TokenModes& modes, ModelCache& cache) {
  int64_t B = tokens.size(0);
  ORYX_CHECK(tokens.dim() == 2 && tokens.size(1) == 1 && cache.batch() == B, "decode_step: tokens must be [",
             cache.batch(), ",1], got ", shape_str(tokens.sizes()));
  CacheWritesInPlace in_place;                     // every cache buffer keeps its address
  auto positions = cache.lengths().unsqueeze(1);  // [B,1]: the per-sequence path of every mixer
  return head(run_layers(tokens, modes, positions, &cache, 0, MixerForm::Auto)).select(1, 0);
}

torch::Tensor OryxModelImpl::head(const torch::Tensor& hidden) const {
  return torch::nn::functional::linear(hidden, c_.tie_embeddings ? embed : lm_head).to(torch::kFloat32);
}

torch::Tensor OryxModelImpl::forward(const torch::Tensor& tokens, const torch::Tensor& modes,
                                     ModelCache* cache, MixerForm form) {
  return head(hidden(tokens, modes, cache, form));
}

OryxModel model_create(const ModelConfig& c, uint64_t seed) {
  torch::manual_seed(seed);
  return OryxModel(c);
}

OryxModel model_load(const ModelConfig& c, uint64_t seed, torch::Device device, torch::ScalarType dtype) {
  if (c.weights.empty()) {
    auto m = model_create(c, seed);  // drawn on the CPU, so a seed gives the same weights everywhere
    m->to(device, dtype);
    return m;
  }
  // A cold start's two largest costs, the device's set-up and reading the file, overlap.
  auto device_ready = device_warm_up_async(device, dtype);
  // Every weight comes from the file (the load is strict): no random draws first, and the
  // uninitialised CPU tensors are replaced by the file's, placed on the device.
  std::optional<OryxModel> m;
  {
    SkipInit skip;
    m.emplace(model_create(c, seed));
  }
  weights_load_to(**m, c.weights, device, dtype);
  device_ready.get();
  return *m;
}

}  // namespace oryx
