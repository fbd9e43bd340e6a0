// oryx info: what a config builds: shapes, parameter counts by role (shared by both modes,
// attention-only, linear-only), the shared fraction (>= 0.90 for the shipped Oryx configs),
// and the inference memory per token and per sequence. Counts come from the config's shapes
// (config/param_count.h): nothing is allocated, so any size answers at once.
#include <cstdio>
#include <iostream>

#include "oryx/cli/commands.h"
#include "oryx/cli/model_options.h"
#include "oryx/config/param_count.h"

namespace oryx::cli {

namespace {

struct InfoOptions {
  ModelOptions model;
  bool json = false;
};

std::string millions(int64_t n) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2fM", n / 1e6);
  return buf;
}

void run_info(const InfoOptions& o) {
  const ModelConfig c = model_options_config(o.model);
  const ParamCounts p = config_param_counts(c);
  // Inference memory: attention-ready K and V per token (bf16), fp32 recurrent state and
  // the short-convolution windows per sequence.
  int64_t kv_per_token = c.has_attention() ? c.n_layers * (c.qk_dim() + c.v_dim()) * 2 : 0;
  int64_t state_per_seq = c.has_linear() ? c.n_layers * c.n_heads * c.head_dim_k * c.head_dim_v * 4 : 0;
  if (o.json) {
    nlohmann::json params = {{"total", p.total},
                             {"shared", p.shared},
                             {"attention_only", p.attention_only},
                             {"linear_only", p.linear_only}};
    // A mode the model does not have uses no parameters: its count is left out, not faked.
    if (c.has_attention()) params["used_by_attention_mode"] = p.used_by_attention();
    if (c.has_linear()) params["used_by_linear_mode"] = p.used_by_linear();
    nlohmann::json j = {
        {"name", c.name},
        {"config", config_to_json(c)},
        {"params", params},
        {"shared_fraction", p.shared_fraction()},
        {"kv_cache_bytes_per_token_bf16", kv_per_token},
        {"recurrent_state_bytes_per_sequence", state_per_seq},
    };
    std::cout << j.dump(2) << "\n";
    return;
  }
  auto pct = [&](int64_t n) { return p.total ? 100.0 * n / p.total : 0.0; };
  std::printf("model            %s (%s%s%s)\n", c.name.c_str(), to_string(c.kind),
              c.has_linear() ? ", linear mixer " : "", c.has_linear() ? to_string(c.linear) : "");
  std::printf("shape            d_model %lld, %lld layers, %lld heads x (K %lld, V %lld), MLP %lld, vocab %lld\n",
              (long long)c.d_model, (long long)c.n_layers, (long long)c.n_heads,
              (long long)c.head_dim_k, (long long)c.head_dim_v, (long long)c.mlp_hidden,
              (long long)c.vocab_size);
  std::printf("parameters       %s total\n", millions(p.total).c_str());
  std::printf("  shared         %s (%.1f%%)  used by both modes\n", millions(p.shared).c_str(), pct(p.shared));
  std::printf("  attention-only %s (%.1f%%)\n", millions(p.attention_only).c_str(), pct(p.attention_only));
  std::printf("  linear-only    %s (%.1f%%)\n", millions(p.linear_only).c_str(), pct(p.linear_only));
  if (c.has_attention()) std::printf("  mode A uses    %s\n", millions(p.used_by_attention()).c_str());
  if (c.has_linear()) std::printf("  mode L uses    %s\n", millions(p.used_by_linear()).c_str());
  std::printf("shared fraction  %.4f\n", p.shared_fraction());
  std::printf("KV cache         %.1f KiB per token (bf16)\n", kv_per_token / 1024.0);
  std::printf("recurrent state  %.1f KiB per sequence (fp32)\n", state_per_seq / 1024.0);
}

}  // namespace

void register_info(CLI::App& app) {
  auto opts = std::make_shared<InfoOptions>();
  auto* cmd = app.add_subcommand("info", "Parameter counts by mode and the shared fraction of a model");
  cmd->footer("Example: oryx info --config configs/oryx-gdn-125m.json --json");
  model_options_add(cmd, opts->model);
  cmd->add_flag("--json", opts->json, "Print JSON");
  cmd->callback([opts] { run_info(*opts); });
}

}  // namespace oryx::cli
