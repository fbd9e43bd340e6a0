#include "oryx/cli/model_options.h"

#include "oryx/checkpoint/checkpoint.h"
#include "oryx/cli/flag_limits.h"
#include "oryx/common/device.h"
#include "oryx/common/error.h"
#include "oryx/data/tokenizer.h"

namespace oryx::cli {

void model_options_add(CLI::App* cmd, ModelOptions& o) {
  cmd->add_option("--config", o.config, "Model config (JSON), e.g. configs/oryx-gdn-tiny.json")
      ->group("Model");
  cmd->add_option("--checkpoint", o.checkpoint, "Checkpoint folder (config.json + model.safetensors)")
      ->group("Model");
  cmd->add_option("--device", o.device, "cpu, cuda, cuda:N or auto")
      ->capture_default_str()->group("Model");
  add_seed_option(cmd, "--init-seed", o.seed, "Seed of random weights when there is no weights file")
      ->group("Model");
}

ModelConfig model_options_config(const ModelOptions& o) {
  ORYX_CHECK(!o.config.empty() || !o.checkpoint.empty(), "give --config FILE or --checkpoint DIR");
  if (o.config.empty()) return checkpoint_config(o.checkpoint);
  ModelConfig c = config_load(o.config);
  if (!o.checkpoint.empty()) c.weights = checkpoint_files(o.checkpoint).weights;
  return c;
}

void model_options_add_precision(CLI::App* cmd, ModelOptions& o) {
  o.precision = "auto";
  cmd->add_option("--precision", o.precision,
                  "auto (bf16 on CUDA, fp32 on the CPU), fp32 or bf16: the weights, activations and caches")
      ->capture_default_str()->group("Model");
}

OryxModel model_options_load(const ModelOptions& o) {
  const auto device = device_parse(o.device);
  const auto dtype = inference_dtype(o.precision, device);  // a bad --precision before the weights are read
  auto model = model_load(model_options_config(o), o.seed, device, dtype);
  model->eval();
  return model;
}

std::string tokenizer_spec_for(const ModelOptions& o, const std::string& flag) {
  if (!flag.empty()) {
    tokenizer_id_for(o, flag);  // refuses a flag that contradicts the checkpoint
    return flag;
  }
  if (!o.checkpoint.empty()) {
    auto spec = checkpoint_files(o.checkpoint).tokenizer;
    if (!spec.empty()) return spec;
  }
  return model_options_config(o).vocab_size >= 257 ? "byte" : "";
}

std::string tokenizer_id_for(const ModelOptions& o, const std::string& flag) {
  const std::string ckpt_id = o.checkpoint.empty() ? "" : checkpoint_files(o.checkpoint).tokenizer_id;
  if (flag.empty()) return ckpt_id;
  const std::string flag_id = tokenizer_identity(flag);
  tokenizer_check_same("--tokenizer " + flag, flag_id, "checkpoint " + o.checkpoint, ckpt_id);
  return flag_id;
}

}  // namespace oryx::cli
