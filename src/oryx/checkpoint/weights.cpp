#include "oryx/checkpoint/weights.h"

#include <set>
#include <utility>
#include <vector>

#include "oryx/checkpoint/safetensors.h"
#include "oryx/common/error.h"
#include "oryx/common/finite.h"
#include "oryx/common/shape.h"

namespace oryx {
namespace {

// Parameters, then buffers, under their dotted names; the tensors share the module's storage.
std::vector<std::pair<std::string, torch::Tensor>> weights_collect(const torch::nn::Module& module) {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& p : module.named_parameters(/*recurse=*/true)) out.emplace_back(p.key(), p.value());
  for (const auto& b : module.named_buffers(/*recurse=*/true)) out.emplace_back(b.key(), b.value());
  return out;
}

std::string and_more(size_t count) {
  return count > 1 ? " (and " + std::to_string(count - 1) + " more)" : "";
}

void weights_check_match(const std::string& path, const std::string& name,
                         const torch::Tensor& dst, const torch::Tensor& src) {
  const auto src_type = src.scalar_type();
  if (torch::isFloatingType(dst.scalar_type())) {
    ORYX_CHECK(torch::isFloatingType(src_type), "weights file ", path, ": tensor '", name,
               "' has dtype ", safetensors_dtype_name(src_type), ", expected a floating dtype");
  } else {
    ORYX_CHECK(src_type == dst.scalar_type(), "weights file ", path, ": tensor '", name,
               "' has dtype ", safetensors_dtype_name(src_type), ", expected ",
               safetensors_dtype_name(dst.scalar_type()));
  }
  ORYX_CHECK(src.sizes() == dst.sizes(), "weights file ", path, ": tensor '", name, "' has shape ",
             shape_str(src.sizes()), ", model expects ", shape_str(dst.sizes()));
}

}  // namespace

void weights_save(const torch::nn::Module& module, const std::string& path,
                  const std::map<std::string, std::string>& metadata) {
  safetensors_write(path, weights_collect(module), metadata);
}

namespace {

// The file's tensor for every parameter and buffer of `targets` (in their order), after
// checking that the file holds exactly those, with matching shapes and dtypes.
std::vector<const torch::Tensor*> weights_match(const std::string& path, const SafetensorsFile& file,
                                                const std::vector<std::pair<std::string, torch::Tensor>>& targets) {
  std::map<std::string, const torch::Tensor*> in_file;
  for (const auto& [name, t] : file.tensors) in_file[name] = &t;
  std::vector<std::string> missing;
  for (const auto& [name, dst] : targets)
    if (!in_file.count(name)) missing.push_back(name);
  ORYX_CHECK(missing.empty(), "weights file ", path, ": missing tensor '", missing.front(), "'",
             and_more(missing.size()));

  std::set<std::string> expected;
  std::vector<const torch::Tensor*> sources;
  for (const auto& [name, dst] : targets) {
    weights_check_match(path, name, dst, *in_file.at(name));
    expected.insert(name);
    sources.push_back(in_file.at(name));
  }
  std::vector<std::string> unexpected;
  for (const auto& [name, t] : file.tensors)
    if (!expected.count(name)) unexpected.push_back(name);
  ORYX_CHECK(unexpected.empty(), "weights file ", path, ": unexpected tensor '", unexpected.front(),
             "'", and_more(unexpected.size()), " (the file may be for another config)");
  return sources;
}

void check_finite(const std::string& path, const std::vector<std::pair<std::string, torch::Tensor>>& tensors) {
  const std::string broken = first_non_finite(tensors);
  ORYX_CHECK(broken.empty(), "weights file ", path, ": tensor '", broken,
             "' holds NaN or Inf values (saved from a diverged run?)");
}

}  // namespace

void weights_load(torch::nn::Module& module, const std::string& path) {
  const SafetensorsFile file = safetensors_read(path);
  const auto targets = weights_collect(module);
  // Everything is checked before anything is copied, so a failed load leaves the model as it was.
  const auto sources = weights_match(path, file, targets);
  check_finite(path, file.tensors);
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < targets.size(); ++i) targets[i].second.copy_(*sources[i]);
}

void weights_load_to(torch::nn::Module& module, const std::string& path, torch::Device device,
                     torch::ScalarType float_dtype) {
  const SafetensorsFile file = safetensors_read(path);
  const auto targets = weights_collect(module);
  const auto sources = weights_match(path, file, targets);
  std::vector<std::pair<std::string, torch::Tensor>> placed;
  for (size_t i = 0; i < targets.size(); ++i) {
    auto t = sources[i]->to(device);  // the file's dtype crosses, then the cast runs on the device
    if (t.is_floating_point()) t = t.to(float_dtype);
    placed.emplace_back(targets[i].first, std::move(t));
  }
  check_finite(path, placed);
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < targets.size(); ++i) targets[i].second.set_data(placed[i].second);
}

}  // namespace oryx
