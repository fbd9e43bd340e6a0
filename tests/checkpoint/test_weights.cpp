// Model weights through safetensors: a round trip into a freshly initialised module, and the
// strict load's refusals (missing, unexpected, wrong shape, wrong dtype, NaN or Inf values),
// each of which must leave the module untouched.
#include <gtest/gtest.h>

#include "oryx/checkpoint/safetensors.h"
#include "oryx/checkpoint/weights.h"
#include "oryx/common/error.h"
#include "support/temp_dir.h"

namespace oryx::testing {
namespace {

// Two linear layers and two buffers, named as a model's would be ("fc1.weight", "steps").
struct TinyNet : torch::nn::Module {
  TinyNet(int64_t in, int64_t hidden) {
    fc1 = register_module("fc1", torch::nn::Linear(in, hidden));
    fc2 = register_module("fc2", torch::nn::Linear(hidden, 2));
    scale = register_buffer("scale", torch::rand({hidden}));
    steps = register_buffer("steps", torch::randint(0, 100, {}, torch::kInt64));
  }
  torch::nn::Linear fc1{nullptr}, fc2{nullptr};
  torch::Tensor scale, steps;
};

// All parameters and buffers, cloned, by name.
std::map<std::string, torch::Tensor> snapshot(const torch::nn::Module& m) {
  std::map<std::string, torch::Tensor> out;
  for (const auto& p : m.named_parameters()) out[p.key()] = p.value().detach().clone();
  for (const auto& b : m.named_buffers()) out[b.key()] = b.value().clone();
  return out;
}

bool same(const std::map<std::string, torch::Tensor>& a, const std::map<std::string, torch::Tensor>& b) {
  if (a.size() != b.size()) return false;
  for (const auto& [name, t] : a)
    if (!b.count(name) || !torch::equal(t, b.at(name))) return false;
  return true;
}

// The tensors weights_save would write for `m`, to be edited into a bad file.
std::vector<std::pair<std::string, torch::Tensor>> tensors_of(const torch::nn::Module& m) {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& [name, t] : snapshot(m)) out.emplace_back(name, t);
  return out;
}

// Loads `path` into a fresh TinyNet(4, 8) with each loader (in place, and placed as bf16),
// expects an error containing `part`, and checks that the module was left as it was.
void expect_load_error(const std::string& path, const std::string& part) {
  for (bool placed : {false, true}) {
    auto net = std::make_shared<TinyNet>(4, 8);
    const auto before = snapshot(*net);
    try {
      if (placed) weights_load_to(*net, path, torch::kCPU, torch::kBFloat16);
      else weights_load(*net, path);
      ADD_FAILURE() << "no error, expected: " << part;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
    }
    EXPECT_TRUE(same(snapshot(*net), before)) << "a failed load modified the module (placed " << placed << ")";
  }
}

TEST(WeightsTest, SaveLoadRoundTrip) {
  TempDir dir;
  const std::string path = dir.file("model.safetensors");
  torch::manual_seed(1);
  auto a = std::make_shared<TinyNet>(4, 8);
  auto b = std::make_shared<TinyNet>(4, 8);
  ASSERT_FALSE(same(snapshot(*a), snapshot(*b)));
  weights_save(*a, path, {{"config", "tiny"}});

  const SafetensorsFile f = safetensors_read(path);
  EXPECT_EQ(f.metadata.at("config"), "tiny");
  std::vector<std::string> names;
  for (const auto& [name, t] : f.tensors) names.push_back(name);
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"fc1.bias", "fc1.weight", "fc2.bias", "fc2.weight",
                                             "scale", "steps"}));

  const void* weight_storage = b->fc1->weight.data_ptr();
  weights_load(*b, path);
  EXPECT_TRUE(same(snapshot(*a), snapshot(*b)));
  EXPECT_EQ(b->fc1->weight.data_ptr(), weight_storage) << "load must copy into the parameters";
  EXPECT_TRUE(b->fc1->weight.requires_grad());
}

TEST(WeightsTest, LoadConvertsFloatingDtypes) {
  TempDir dir;
  const std::string path = dir.file("model.safetensors");
  auto a = std::make_shared<TinyNet>(4, 8);
  auto tensors = tensors_of(*a);
  for (auto& [name, t] : tensors)
    if (t.is_floating_point()) t = t.to(torch::kFloat64);
  safetensors_write(path, tensors);
  auto b = std::make_shared<TinyNet>(4, 8);
  weights_load(*b, path);
  EXPECT_EQ(b->fc2->weight.scalar_type(), torch::kFloat32);
  EXPECT_TRUE(same(snapshot(*a), snapshot(*b)));
}

// weights_load_to replaces the module's tensors by the file's, floating ones cast (here to
// bf16 on the CPU; on CUDA the cast runs after the copy), integer buffers as they are; the
// parameters stay parameters of the module and keep requires_grad.
TEST(WeightsTest, LoadToPlacesAndCasts) {
  TempDir dir;
  const std::string path = dir.file("model.safetensors");
  torch::manual_seed(3);
  auto a = std::make_shared<TinyNet>(4, 8);
  weights_save(*a, path);
  auto b = std::make_shared<TinyNet>(4, 8);
  weights_load_to(*b, path, torch::kCPU, torch::kBFloat16);
  EXPECT_EQ(b->fc1->weight.scalar_type(), torch::kBFloat16);
  EXPECT_EQ(b->scale.scalar_type(), torch::kBFloat16);
  EXPECT_EQ(b->steps.scalar_type(), torch::kInt64);
  EXPECT_TRUE(b->fc1->weight.requires_grad());
  EXPECT_TRUE(torch::equal(b->fc1->weight, a->fc1->weight.to(torch::kBFloat16)));
  EXPECT_TRUE(torch::equal(b->steps, a->steps));
  EXPECT_EQ(b->named_parameters()["fc2.bias"].data_ptr(), b->fc2->bias.data_ptr());
  auto x = torch::randn({3, 4}, torch::kBFloat16);
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(torch::equal(b->fc2->forward(b->fc1->forward(x)),
                           torch::nn::functional::linear(torch::nn::functional::linear(x, a->fc1->weight.to(torch::kBFloat16),
                                                                                       a->fc1->bias.to(torch::kBFloat16)),
                                                         a->fc2->weight.to(torch::kBFloat16), a->fc2->bias.to(torch::kBFloat16))));

  auto c = std::make_shared<TinyNet>(4, 8);
  weights_load_to(*c, path, torch::kCPU, torch::kFloat32);
  EXPECT_TRUE(same(snapshot(*a), snapshot(*c)));
}

TEST(WeightsTest, MissingTensor) {
  TempDir dir;
  const std::string path = dir.file("model.safetensors");
  auto tensors = tensors_of(TinyNet(4, 8));
  tensors.erase(std::remove_if(tensors.begin(), tensors.end(),
                               [](const auto& p) { return p.first == "fc2.bias"; }),
                tensors.end());
  safetensors_write(path, tensors);
  expect_load_error(path, "weights file " + path + ": missing tensor 'fc2.bias'");
}

TEST(WeightsTest, UnexpectedTensor) {
  TempDir dir;
  const std::string path = dir.file("model.safetensors");
  auto tensors = tensors_of(TinyNet(4, 8));
  tensors.emplace_back("foo", torch::ones({1}));
  safetensors_write(path, tensors);
  expect_load_error(path, "weights file " + path +
                              ": unexpected tensor 'foo' (the file may be for another config)");
}

TEST(WeightsTest, ShapeMismatch) {
  TempDir dir;
  const std::string path = dir.file("model.safetensors");
  weights_save(TinyNet(4, 6), path);
  expect_load_error(path, "weights file " + path +
                              ": tensor 'fc1.weight' has shape [6,4], model expects [8,4]");
}

TEST(WeightsTest, IntegerTensorForFloatParameter) {
  TempDir dir;
  const std::string path = dir.file("model.safetensors");
  auto tensors = tensors_of(TinyNet(4, 8));
  for (auto& [name, t] : tensors)
    if (name == "fc2.weight") t = t.to(torch::kInt32);
  safetensors_write(path, tensors);
  expect_load_error(path, "weights file " + path +
                              ": tensor 'fc2.weight' has dtype I32, expected a floating dtype");
}

TEST(WeightsTest, IntegerBufferNeedsItsExactDtype) {
  TempDir dir;
  const std::string path = dir.file("model.safetensors");
  auto tensors = tensors_of(TinyNet(4, 8));
  for (auto& [name, t] : tensors)
    if (name == "steps") t = t.to(torch::kFloat32);
  safetensors_write(path, tensors);
  expect_load_error(path, "tensor 'steps' has dtype F32, expected I64");
}

TEST(WeightsTest, NonFiniteValuesAreRefused) {
  TempDir dir;
  for (double bad : {NAN, INFINITY, -INFINITY}) {
    const std::string path = dir.file("model.safetensors");
    auto tensors = tensors_of(TinyNet(4, 8));
    for (auto& [name, t] : tensors)
      if (name == "fc2.weight") t[0][1] = bad;
    safetensors_write(path, tensors);
    expect_load_error(path, "weights file " + path + ": tensor 'fc2.weight' holds NaN or Inf values");
  }
}

}  // namespace
}  // namespace oryx::testing
