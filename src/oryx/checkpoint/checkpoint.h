// A checkpoint is a folder, written atomically as a whole (common/atomic_file.h):
//   config.json            the model config, every key (config_to_json)
//   model.safetensors      the weights, fp32
//   tokenizer.txt          the tokenizer spec of the data it was trained on: "byte", or
//                          "tokenizer.model" for the SentencePiece model copied beside it;
//                          then a line with its tokenizer_identity (absent in checkpoints of
//                          older builds, whose identity is computed from the copy)
//   optimizer.safetensors  AdamW moments                      (training checkpoints only)
//   trainer.json           step, tokens, RNG and data states  (training checkpoints only)
#pragma once
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <string>
#include <utility>
#include <vector>

#include "oryx/config/model_config.h"

namespace oryx {

struct CheckpointFiles {
  std::string dir;         // the folder actually read (see atomic_resolve_dir)
  std::string config;      // path of config.json
  std::string weights;     // path of model.safetensors
  std::string tokenizer;   // tokenizer spec for tokenizer_load ("" if none recorded)
  std::string tokenizer_id;  // tokenizer_identity of it ("" if none recorded)
};

// Locates and checks the files of a checkpoint folder (the tokenizer copy must match the
// identity recorded for it); throws oryx::Error naming what is missing or wrong.
CheckpointFiles checkpoint_files(const std::string& dir);

// The model config of a checkpoint, with `weights` pointing at its safetensors file.
ModelConfig checkpoint_config(const std::string& dir);

// What a training checkpoint adds to a model checkpoint.
struct TrainingState {
  nlohmann::json trainer;                                    // trainer.json
  std::vector<std::pair<std::string, torch::Tensor>> optimizer;  // optimizer.safetensors
};

// Writes the folder `dir` atomically: everything goes to a sibling temporary folder that then
// replaces `dir` (atomic_replace_dir), so a crash leaves the previous checkpoint readable.
// `tokenizer` is "byte", the path of a SentencePiece model (copied in), or "" for none.
void checkpoint_save(const std::string& dir, const ModelConfig& config, const torch::nn::Module& model,
                     const std::string& tokenizer, const TrainingState* training = nullptr);

// The training part of a checkpoint; throws oryx::Error naming what is missing or corrupt.
TrainingState checkpoint_load_training(const std::string& dir);

// The sequence length the checkpoint was trained at (trainer.json's options.seq_len), or 0
// when it records none (a model-only checkpoint, or an unreadable trainer.json).
int64_t checkpoint_training_seq_len(const std::string& dir);

}  // namespace oryx
