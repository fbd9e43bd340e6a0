// Bad input to the model gets an oryx::Error with a message naming the problem: token ids out
// of range, sequences past max_seq_len, modes a baseline cannot run, broken weight files.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "oryx/checkpoint/safetensors.h"
#include "oryx/checkpoint/weights.h"
#include "oryx/common/error.h"
#include "oryx/model/model.h"
#include "oryx/common/remove_tree.h"
#include "support/models.h"

namespace oryx::testing {
namespace {

template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

#define EXPECT_ERROR_CONTAINS(stmt, needle)                                              \
  do {                                                                                   \
    std::string err_ = error_of([&] { stmt; });                                          \
    EXPECT_NE(err_.find(needle), std::string::npos) << "error '" << err_ << "' lacks '" \
                                                    << (needle) << "'";                  \
  } while (0)

TEST(BadInput, TokenIdsAndLengths) {
  auto cfg = shipped_config("oryx-gdn-tiny");
  auto model = model_create(cfg);
  torch::NoGradGuard no_grad;
  auto modes = torch::ones({4}, torch::kBool);
  EXPECT_ERROR_CONTAINS(model->forward(torch::tensor({{1, 2, 512, 3}}), modes), "token id 512 is out of range");
  EXPECT_ERROR_CONTAINS(model->forward(torch::tensor({{1, -1, 2, 3}}), modes), "token id -1 is out of range");
  auto long_tokens = torch::zeros({1, cfg.max_seq_len + 1}, torch::kLong);
  EXPECT_ERROR_CONTAINS(model->forward(long_tokens, torch::ones({cfg.max_seq_len + 1}, torch::kBool)),
                        "longer than the model's max_seq_len");
  EXPECT_ERROR_CONTAINS(model->forward(torch::tensor({{1, 2, 3}}), modes), "mode mask covers 4 tokens");
  EXPECT_ERROR_CONTAINS(model->forward(torch::tensor({{1, 2, 3, 4}}), torch::Tensor()), "give a mode schedule");
  // A cache that would overflow.
  ModelCache cache(cfg, 1, 4, torch::kCPU, torch::kFloat32);
  model->forward(torch::tensor({{1, 2, 3, 4}}), modes, &cache);
  EXPECT_ERROR_CONTAINS(model->forward(torch::tensor({{1}}), torch::ones({1}, torch::kBool), &cache),
                        "exceed its capacity");
}

TEST(BadInput, BaselinesRejectTheOtherMode) {
  torch::NoGradGuard no_grad;
  auto tf = model_create(shipped_config("transformer-tiny"));
  EXPECT_ERROR_CONTAINS(tf->forward(torch::tensor({{1, 2}}), torch::tensor({true, false})),
                        "every token must be in mode A");
  auto lin = model_create(shipped_config("gdn-tiny"));
  EXPECT_ERROR_CONTAINS(lin->forward(torch::tensor({{1, 2}}), torch::tensor({true, false})),
                        "every token must be in mode L");
  EXPECT_NO_THROW(lin->forward(torch::tensor({{1, 2}}), torch::Tensor()));
}

TEST(BadInput, BrokenWeightFiles) {
  auto cfg = shipped_config("oryx-gdn-tiny");
  auto model = model_create(cfg);
  auto dir = make_temp_dir("weights");
  std::string good = dir + "/good.safetensors";
  weights_save(*model, good);

  // Truncated file.
  auto size = std::filesystem::file_size(good);
  std::string truncated = dir + "/truncated.safetensors";
  std::filesystem::copy_file(good, truncated);
  std::filesystem::resize_file(truncated, size - 100);
  EXPECT_ERROR_CONTAINS(weights_load(*model, truncated), "truncated");

  // Wrong shape and wrong dtype for one tensor.
  auto params = model->named_parameters();
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  for (const auto& p : params) tensors.emplace_back(p.key(), p.value().detach());
  auto wrong_shape = tensors;
  wrong_shape[1].second = torch::zeros({3, 3});
  safetensors_write(dir + "/shape.safetensors", wrong_shape);
  EXPECT_ERROR_CONTAINS(weights_load(*model, dir + "/shape.safetensors"), "model expects");
  auto wrong_dtype = tensors;
  wrong_dtype[1].second = wrong_dtype[1].second.to(torch::kInt32);
  safetensors_write(dir + "/dtype.safetensors", wrong_dtype);
  EXPECT_ERROR_CONTAINS(weights_load(*model, dir + "/dtype.safetensors"), "dtype");
  // Missing file; a config naming a missing weights file.
  EXPECT_ERROR_CONTAINS(weights_load(*model, dir + "/none.safetensors"), "none.safetensors");
  cfg.weights = dir + "/none.safetensors";
  EXPECT_ERROR_CONTAINS(model_load(cfg), "none.safetensors");
  remove_tree(dir);
}

TEST(BadInput, WeightsRoundTrip) {
  auto cfg = shipped_config("oryx-mamba2-tiny");
  auto a = model_create(cfg, 1);
  auto dir = make_temp_dir("weights-rt");
  cfg.weights = dir + "/w.safetensors";
  weights_save(*a, cfg.weights);
  auto b = model_load(cfg, 2);
  torch::NoGradGuard no_grad;
  auto tokens = torch::tensor({{3, 1, 4, 1, 5}});
  auto modes = torch::tensor({true, false, false, true, false});
  EXPECT_TRUE(torch::equal(a->forward(tokens, modes), b->forward(tokens, modes)));
  // Placed as bf16 by the load (weights file) or after the draws (no file): the same model
  // as the fp32 one cast.
  auto a16 = model_create(cfg, 1);
  a16->to(torch::kBFloat16);
  auto b16 = model_load(cfg, 2, torch::kCPU, torch::kBFloat16);
  EXPECT_EQ(b16->dtype(), torch::kBFloat16);
  EXPECT_TRUE(torch::equal(a16->forward(tokens, modes), b16->forward(tokens, modes)));
  cfg.weights.clear();
  auto c16 = model_load(cfg, 1, torch::kCPU, torch::kBFloat16);
  EXPECT_TRUE(torch::equal(a16->forward(tokens, modes), c16->forward(tokens, modes)));
  remove_tree(dir);
}

}  // namespace
}  // namespace oryx::testing
