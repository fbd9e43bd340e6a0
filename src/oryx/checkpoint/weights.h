// Model weights as safetensors files, named as torch::nn::Module names them
// ("layers.0.mixer.w_k"), so that a checkpoint is readable by any safetensors tool.
// Loading is strict: a file for another config fails with the first tensor that differs
// instead of loading half a model.
#pragma once
#include <torch/nn/module.h>

#include <map>
#include <string>

namespace oryx {

// Writes every parameter and buffer of `module` (recursively), each in its own dtype, from
// any device, atomically.
void weights_save(const torch::nn::Module& module, const std::string& path,
                  const std::map<std::string, std::string>& metadata = {});

// Copies the tensors of `path` into the existing parameters and buffers of `module`, keeping
// their device and dtype. Every one must be present with the same shape, and the file must
// hold nothing else; a floating parameter accepts any floating dtype (converted), other
// dtypes must match exactly; NaN and Inf values are refused. Nothing is modified unless the
// whole file fits.
void weights_load(torch::nn::Module& module, const std::string& path);

// The same checks, but every tensor of `module` is replaced by the file's, placed on `device`
// (floating ones as `float_dtype`, cast on the device): for a model built with SkipInit, whose
// uninitialised CPU tensors are then never filled or copied. Nothing is modified unless the
// whole file fits (the finiteness check runs on the placed tensors).
void weights_load_to(torch::nn::Module& module, const std::string& path, torch::Device device,
                     torch::ScalarType float_dtype);

}  // namespace oryx
