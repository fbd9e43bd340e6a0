#include "oryx/config/model_config.h"

#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>

#include "oryx/common/error.h"
#include "oryx/common/json_fields.h"

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

  c.vocab_size = f.positive_int("vocab_size");
  c.d_model = f.positive_int("d_model");
  c.n_layers = f.positive_int("n_layers");
  c.n_heads = f.positive_int("n_heads");
  if (f.has("head_dim_k")) {
    c.head_dim_k = f.positive_int("head_dim_k");
  } else {
    ORYX_CHECK(c.d_model % c.n_heads == 0, where, ": key 'n_heads': d_model (", c.d_model,
               ") is not divisible by n_heads (", c.n_heads, "); set head_dim_k explicitly");
    c.head_dim_k = c.d_model / c.n_heads;
  }
  c.head_dim_v = f.has("head_dim_v") ? f.positive_int("head_dim_v") : c.head_dim_k;
  ORYX_CHECK(!(f.has("mlp_ratio") && f.has("mlp_hidden")), where,
             ": keys 'mlp_ratio' and 'mlp_hidden' are exclusive; give one");
  if (f.has("mlp_hidden")) {
    c.mlp_hidden = f.positive_int("mlp_hidden");
  } else {
    double ratio = f.positive_number("mlp_ratio", 4.0);
    // Round to a multiple of 32 so that GEMMs stay aligned.
    c.mlp_hidden = std::max<int64_t>(32, static_cast<int64_t>(std::llround(ratio * c.d_model / 32.0)) * 32);
  }
  c.conv_kernel = f.positive_int("conv_kernel", c.conv_kernel);
  c.rope = f.boolean("rope", c.rope);
  c.rope_theta = f.positive_number("rope_theta", c.rope_theta);
  c.qk_norm = f.boolean("qk_norm", c.qk_norm);
  c.share_q = f.boolean("share_q", c.share_q);
  c.separate_out_norm = f.boolean("separate_out_norm", c.separate_out_norm);
  c.tie_embeddings = f.boolean("tie_embeddings", c.tie_embeddings);
  bool gdn_like = c.linear != LinearKind::Mamba2;  // SPEC 1: Mamba-2 has no conv activation
  c.kv_conv_silu = f.boolean("kv_conv_silu", gdn_like);
  c.k_l2norm = f.boolean("k_l2norm", gdn_like);
  c.chunk_size = f.positive_int("chunk_size", c.chunk_size);
  c.max_seq_len = f.positive_int("max_seq_len", c.max_seq_len);
  c.norm_eps = f.positive_number("norm_eps", c.norm_eps);
  c.init_std = f.positive_number("init_std", c.init_std);
  c.weights = f.str("weights", "");
  f.reject_unknown();

  ORYX_CHECK(!c.rope || c.head_dim_k % 2 == 0, where, ": key 'head_dim_k' (", c.head_dim_k,
             ") must be even when rope is on");
  ORYX_CHECK(!(c.share_q && c.kind != ModelKind::Oryx), where,
             ": key 'share_q' only applies to oryx models");
  ORYX_CHECK(!(c.separate_out_norm && c.kind != ModelKind::Oryx), where,
             ": key 'separate_out_norm' only applies to oryx models");
  ORYX_CHECK(c.vocab_size <= (int64_t(1) << 31), where, ": key 'vocab_size' is too large");
  return c;
}

ModelConfig config_load(const std::string& path) {
  std::ifstream in(path);
  ORYX_CHECK(in.good(), "cannot open config file '", path, "'");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const nlohmann::json::parse_error& e) {
    ORYX_FAIL(path, ": malformed JSON: ", e.what());
  }
  ModelConfig c = config_from_json(j, path);
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
