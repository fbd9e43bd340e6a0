#include "oryx/config/model_config.h"

#include <filesystem>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>

#include "oryx/common/error.h"
#include "oryx/common/json_fields.h"
#include "oryx/common/json_parse.h"
#include "oryx/config/param_count.h"

namespace oryx {

const char* to_string(ModelKind kind) {
  switch (kind) {
    case ModelKind::Oryx: return "oryx";
    case ModelKind::Transformer: return "transformer";
    case ModelKind::Linear: return "linear";
  }
  return "?";
}

const char* to_string(LinearKind kind) {
  switch (kind) {
    case LinearKind::None: return "none";
    case LinearKind::GatedDeltaNet: return "gdn";
    case LinearKind::Mamba2: return "mamba2";
  }
  return "?";
}

namespace {

// Upper bounds of every size a config sets (docs/limits.md). Far above any model this code
// trains, low enough that their products fit in int64 and that a typo (d_model 1e12,
// n_layers 1e9) fails while parsing instead of in the allocator or a build loop.
constexpr int64_t kMaxDModel = 65536;
constexpr int64_t kMaxLayers = 1024;
constexpr int64_t kMaxHeads = 1024;
constexpr int64_t kMaxHeadDim = 1024;
constexpr int64_t kMaxMlpHidden = int64_t(1) << 20;
constexpr double kMaxMlpRatio = 64;
constexpr int64_t kMaxConvKernel = 64;
constexpr int64_t kMaxChunk = 4096;
constexpr int64_t kMaxParameters = 20'000'000'000;

}  // namespace

ModelConfig config_from_json(const nlohmann::json& j, const std::string& where) {
  JsonFields f(j, where);
  ModelConfig c;
  c.name = f.str("name", c.name);
  std::string kind = f.choice("kind", {"oryx", "transformer", "linear"}, "oryx");
  c.kind = kind == "oryx" ? ModelKind::Oryx
           : kind == "transformer" ? ModelKind::Transformer : ModelKind::Linear;
  std::string linear = f.choice("linear", {"gdn", "mamba2", "none"},
                                c.kind == ModelKind::Transformer ? "none" : "gdn");
  c.linear = linear == "gdn" ? LinearKind::GatedDeltaNet
             : linear == "mamba2" ? LinearKind::Mamba2 : LinearKind::None;
  ORYX_CHECK(c.has_linear() == (c.linear != LinearKind::None), where, ": key 'linear' is '", linear,
             "' but a ", kind, " model ", c.has_linear() ? "needs gdn or mamba2" : "has no linear mixer");

  c.vocab_size = f.int_in("vocab_size", 1, kMaxVocabSize);
  c.d_model = f.int_in("d_model", 1, kMaxDModel);
  c.n_layers = f.int_in("n_layers", 1, kMaxLayers);
  c.n_heads = f.int_in("n_heads", 1, kMaxHeads);
  if (f.has("head_dim_k")) {
    c.head_dim_k = f.int_in("head_dim_k", 1, kMaxHeadDim);
  } else {
    ORYX_CHECK(c.d_model % c.n_heads == 0, where, ": key 'n_heads': d_model (", c.d_model,
               ") is not divisible by n_heads (", c.n_heads, "); set head_dim_k explicitly");
    c.head_dim_k = c.d_model / c.n_heads;
    ORYX_CHECK(c.head_dim_k <= kMaxHeadDim, where, ": d_model / n_heads (", c.head_dim_k, ") exceeds ",
               kMaxHeadDim, "; set head_dim_k explicitly");
  }
  c.head_dim_v = f.int_in("head_dim_v", c.head_dim_k, 1, kMaxHeadDim);
  ORYX_CHECK(!(f.has("mlp_ratio") && f.has("mlp_hidden")), where,
             ": keys 'mlp_ratio' and 'mlp_hidden' are exclusive; give one");
  if (f.has("mlp_hidden")) {
    c.mlp_hidden = f.int_in("mlp_hidden", 1, kMaxMlpHidden);
  } else {
    double ratio = f.positive_number("mlp_ratio", 4.0, kMaxMlpRatio);
    // Round to a multiple of 32 so that GEMMs stay aligned.
    c.mlp_hidden = std::max<int64_t>(32, static_cast<int64_t>(std::llround(ratio * c.d_model / 32.0)) * 32);
    ORYX_CHECK(c.mlp_hidden <= kMaxMlpHidden, where, ": key 'mlp_ratio': mlp_ratio x d_model (", c.mlp_hidden,
               ") exceeds ", kMaxMlpHidden);
  }
  c.conv_kernel = f.int_in("conv_kernel", c.conv_kernel, 1, kMaxConvKernel);
  c.rope = f.boolean("rope", c.rope);
  c.rope_theta = f.positive_number("rope_theta", c.rope_theta, 1e12);
  c.qk_norm = f.boolean("qk_norm", c.qk_norm);
  c.share_q = f.boolean("share_q", c.share_q);
  c.separate_out_norm = f.boolean("separate_out_norm", c.separate_out_norm);
  c.tie_embeddings = f.boolean("tie_embeddings", c.tie_embeddings);
  bool gdn_like = c.linear != LinearKind::Mamba2;  // SPEC 1: Mamba-2 has no conv activation
  c.kv_conv_silu = f.boolean("kv_conv_silu", gdn_like);
  c.k_l2norm = f.boolean("k_l2norm", gdn_like);
  c.chunk_size = f.int_in("chunk_size", c.chunk_size, 1, kMaxChunk);
  c.max_seq_len = f.int_in("max_seq_len", c.max_seq_len, 1, kMaxSequenceLength);
  c.norm_eps = f.positive_number("norm_eps", c.norm_eps, 1.0);
  c.init_std = f.positive_number("init_std", c.init_std, 1.0);
  c.weights = f.str("weights", "");
  f.reject_unknown();

  ORYX_CHECK(!c.rope || c.head_dim_k % 2 == 0, where, ": key 'head_dim_k' (", c.head_dim_k,
             ") must be even when rope is on");
  ORYX_CHECK(!(c.share_q && c.kind != ModelKind::Oryx), where,
             ": key 'share_q' only applies to oryx models");
  ORYX_CHECK(!(c.separate_out_norm && c.kind != ModelKind::Oryx), where,
             ": key 'separate_out_norm' only applies to oryx models");
  // Every size is bounded above, so this arithmetic cannot overflow.
  const int64_t params = config_param_counts(c).total;
  ORYX_CHECK(params <= kMaxParameters, where, ": the config asks for ", params, " parameters, more than the ",
             kMaxParameters, " allowed; check vocab_size, d_model, n_layers and mlp_hidden");
  return c;
}

ModelConfig config_load(const std::string& path) {
  ModelConfig c = config_from_json(json_read_file(path, "config file"), path);
  if (!c.weights.empty() && std::filesystem::path(c.weights).is_relative())
    c.weights = (std::filesystem::path(path).parent_path() / c.weights).string();
  return c;
}

nlohmann::json config_to_json(const ModelConfig& c) {
  nlohmann::json j = {
      {"name", c.name},
      {"kind", to_string(c.kind)},
      {"linear", to_string(c.linear)},
      {"vocab_size", c.vocab_size},
      {"d_model", c.d_model},
      {"n_layers", c.n_layers},
      {"n_heads", c.n_heads},
      {"head_dim_k", c.head_dim_k},
      {"head_dim_v", c.head_dim_v},
      {"mlp_hidden", c.mlp_hidden},
      {"conv_kernel", c.conv_kernel},
      {"rope", c.rope},
      {"rope_theta", c.rope_theta},
      {"qk_norm", c.qk_norm},
      {"share_q", c.share_q},
      {"separate_out_norm", c.separate_out_norm},
      {"tie_embeddings", c.tie_embeddings},
      {"kv_conv_silu", c.kv_conv_silu},
      {"k_l2norm", c.k_l2norm},
      {"chunk_size", c.chunk_size},
      {"max_seq_len", c.max_seq_len},
      {"norm_eps", c.norm_eps},
      {"init_std", c.init_std},
  };
  if (!c.weights.empty()) j["weights"] = c.weights;
  return j;
}

}  // namespace oryx
