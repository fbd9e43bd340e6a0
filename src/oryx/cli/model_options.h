// Flags shared by every command that loads a model: --config, --checkpoint, --device.
#pragma once
#include <CLI/CLI.hpp>

#include <string>

#include "oryx/model/model.h"

namespace oryx::cli {

struct ModelOptions {
  std::string config;      // a JSON model config
  std::string checkpoint;  // a checkpoint folder (its config.json and weights)
  std::string device = "auto";
  uint64_t seed = 0;       // weights of a model with no weights file
  std::string precision = "fp32";  // inference_dtype's spec; --precision where the command has it
};

// Adds --config, --checkpoint, --device and --init-seed to `cmd`.
void model_options_add(CLI::App* cmd, ModelOptions& o);

// The config the options name: --config if given (its `weights` key, if any, or the
// checkpoint's weights), else the checkpoint's.
ModelConfig model_options_config(const ModelOptions& o);

// Adds --precision (default auto: bf16 on CUDA) for a command whose model only runs forward.
void model_options_add_precision(CLI::App* cmd, ModelOptions& o);

// Loads the model on the chosen device and precision, in eval mode.
OryxModel model_options_load(const ModelOptions& o);

// The tokenizer spec for a model: `flag` if given, else the checkpoint's record, else
// "byte" when the vocabulary can hold bytes; "" when none applies. Throws oryx::Error when
// `flag` names a tokenizer other than the one the checkpoint was trained with.
std::string tokenizer_spec_for(const ModelOptions& o, const std::string& flag);

// The identity (tokenizer_identity) of the tokenizer the model is known to use: `flag`'s
// if given, else the checkpoint's record; "" when nothing records it (a bare config).
std::string tokenizer_id_for(const ModelOptions& o, const std::string& flag);

}  // namespace oryx::cli
