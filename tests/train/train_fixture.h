// A small synthetic dataset (byte tokenizer) shared by the training tests, prepared once.
#pragma once
#include <string>

#include "oryx/train/options.h"

namespace oryx::testing {

// The folder of the dataset (created on first use, removed at exit).
const std::string& synthetic_dataset_dir();

// Options for a short CPU run of a shipped tiny config into a fresh run folder.
TrainOptions tiny_train_options(const std::string& config_name, int64_t tokens);

}  // namespace oryx::testing
