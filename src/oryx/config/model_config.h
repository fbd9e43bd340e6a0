// The model configuration: one JSON object per model (configs/*.json). Every decision that
// SPEC.md makes where the paper is silent is a key here, so an experiment can change it.
#pragma once
#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <string>

namespace oryx {

// Bounds that configs, run files and flags share (docs/limits.md): ids and positions.
inline constexpr int64_t kMaxVocabSize = int64_t(1) << 24;
inline constexpr int64_t kMaxSequenceLength = int64_t(1) << 20;

// What the token mixer of every layer can do.
//   oryx        both modes: attention-only and linear-only parameters, a mode per token
//   transformer every token in mode A, no linear-only parameters
//   linear      every token in mode L, no attention-only parameters
enum class ModelKind { Oryx, Transformer, Linear };

// Which linear recurrence mode L uses (none for a transformer).
enum class LinearKind { None, GatedDeltaNet, Mamba2 };

struct ModelConfig {
  std::string name = "unnamed";
  ModelKind kind = ModelKind::Oryx;
  LinearKind linear = LinearKind::GatedDeltaNet;

  int64_t vocab_size = 0;
  int64_t d_model = 0;
  int64_t n_layers = 0;
  int64_t n_heads = 0;
  int64_t head_dim_k = 0;  // K: q/k head dim (default d_model / n_heads)
  int64_t head_dim_v = 0;  // V: v head dim (default K)
  int64_t mlp_hidden = 0;  // F: SwiGLU hidden width (from mlp_ratio or given)
  int64_t conv_kernel = 4;  // width of the causal depthwise short convolutions

  bool rope = true;
  double rope_theta = 10000.0;
  bool qk_norm = true;           // per-head RMSNorm with gain on q_A and the attention copy of k
  bool share_q = false;          // one W_q for both modes (the paper's ablation: +0.17 ppl)
  bool separate_out_norm = false;  // one GatedRMSNorm gain per mode instead of a shared one
  bool tie_embeddings = false;
  bool kv_conv_silu = true;      // SiLU after the k/v short convs (GDN: yes, Mamba-2: no)
  bool k_l2norm = true;          // L2-normalise k per head (GDN: yes, Mamba-2: no)

  int64_t chunk_size = 64;       // chunk length of the chunked linear-recurrence forms
  int64_t max_seq_len = 2048;    // longest sequence (prompt + generated) the model accepts
  double norm_eps = 1e-6;
  double init_std = 0.02;
  std::string weights;           // optional safetensors file, relative to the config's folder

  bool has_attention() const { return kind != ModelKind::Linear; }
  bool has_linear() const { return kind != ModelKind::Transformer; }
  int64_t qk_dim() const { return n_heads * head_dim_k; }
  int64_t v_dim() const { return n_heads * head_dim_v; }
};

const char* to_string(ModelKind kind);
const char* to_string(LinearKind kind);

// Parses and validates a config. `where` names the source in error messages (a file path).
// Unknown keys, wrong types, impossible shapes and bad values throw oryx::Error naming the key.
ModelConfig config_from_json(const nlohmann::json& j, const std::string& where);

// Reads a JSON file; a relative `weights` path is resolved against the file's folder.
ModelConfig config_load(const std::string& path);

// Serialises every key (derived values included), so that a checkpoint is self-describing.
nlohmann::json config_to_json(const ModelConfig& c);

}  // namespace oryx
