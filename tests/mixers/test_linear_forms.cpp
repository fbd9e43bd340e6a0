// Contract 1 for the linear mixers: naive per-token recurrence == chunked parallel form ==
// single-token steps, at lengths that are not multiples of the chunk, with and without an
// initial state, in fp64 and fp32 (tight) and bf16 (judged against the reference's own bf16
// error). Contract 4 for their reference: autograd vs finite differences in fp64.
#include <gtest/gtest.h>

#include "oryx/mixers/gdn/gdn.h"
#include "oryx/mixers/mamba2/mamba2.h"
#include "support/inputs.h"
#include "support/models.h"
#include "support/tolerance.h"

namespace oryx::testing {
namespace {

using Forward = RecurrenceOutput (*)(const torch::Tensor&, const torch::Tensor&,
                                     const torch::Tensor&, const torch::Tensor&,
                                     const torch::Tensor&, const torch::Tensor&, double);
using Chunked = RecurrenceOutput (*)(const torch::Tensor&, const torch::Tensor&,
                                     const torch::Tensor&, const torch::Tensor&,
                                     const torch::Tensor&, const torch::Tensor&, double, int64_t);

struct Forms {
  Forward naive;
  Chunked chunked;
  Forward step;
};

Forms forms_of(LinearOp op) {
  if (op == LinearOp::GatedDeltaNet) return {gdn_naive, gdn_chunked, gdn_step};
  return {ssd_naive, ssd_chunked, ssd_step};
}

// Runs `step` token by token from the initial state.
RecurrenceOutput run_steps(Forward step, const RecurrenceInputs& in) {
  auto S = in.initial_state.defined()
               ? in.initial_state.clone()
               : torch::zeros({in.q.size(0), in.q.size(2), in.q.size(3), in.v.size(3)},
                              in.v.options().dtype(in.v.scalar_type() == torch::kFloat64
                                                       ? torch::kFloat64
                                                       : torch::kFloat32));
  std::vector<torch::Tensor> outs;
  for (int64_t t = 0; t < in.q.size(1); ++t) {
    auto r = step(in.q.select(1, t), in.k.select(1, t), in.v.select(1, t), in.g.select(1, t),
                  in.beta.select(1, t), S, in.scale);
    S = r.state;
    outs.push_back(r.o);
  }
  return {torch::stack(outs, 1), S};
}

struct FormsCase {
  LinearOp op;
  int64_t T;
  bool with_state;
  torch::ScalarType dtype;
};
void PrintTo(const FormsCase& c, std::ostream* os) {
  *os << to_string(c.op) << " T=" << c.T << " " << c.dtype << (c.with_state ? " with state" : "");
}

std::string case_name(const ::testing::TestParamInfo<FormsCase>& info) {
  const auto& c = info.param;
  std::string dt = c.dtype == torch::kFloat64 ? "f64" : c.dtype == torch::kFloat32 ? "f32" : "bf16";
  return std::string(to_string(c.op)) + "_T" + std::to_string(c.T) + "_" + dt +
         (c.with_state ? "_state" : "_nostate");
}

class LinearForms : public ::testing::TestWithParam<FormsCase> {};

TEST_P(LinearForms, NaiveChunkedAndStepAgree) {
  const auto& c = GetParam();
  seed(1000 + c.T);
  const int64_t B = 2, H = 3, K = 16, V = 8, chunk = 64;
  auto in = make_recurrence_inputs(c.op, B, c.T, H, K, V, c.dtype, c.with_state);
  for (auto* t : {&in.q, &in.k, &in.v, &in.g, &in.beta, &in.initial_state})
    if (t->defined()) *t = t->to(test_device());
  auto forms = forms_of(c.op);
  auto naive = forms.naive(in.q, in.k, in.v, in.g, in.beta, in.initial_state, in.scale);
  auto chunked = forms.chunked(in.q, in.k, in.v, in.g, in.beta, in.initial_state, in.scale, chunk);
  auto steps = run_steps(forms.step, in);
  ASSERT_EQ(chunked.o.sizes(), naive.o.sizes());
  ASSERT_EQ(chunked.state.scalar_type(), c.dtype == torch::kFloat64 ? torch::kFloat64 : torch::kFloat32);

  if (c.dtype == torch::kBFloat16) {
    // Reference: the naive form in fp32 on the same (bf16-rounded) inputs.
    auto f32 = [](const torch::Tensor& t) { return t.to(torch::kFloat32); };
    auto ref = forms.naive(f32(in.q), f32(in.k), f32(in.v), f32(in.g), f32(in.beta),
                           in.initial_state, in.scale);
    double base = max_rel_error(naive.o, ref.o);  // the reference's own bf16 output rounding
    EXPECT_LE(max_rel_error(chunked.o, ref.o), 2 * base + 1e-3);
    EXPECT_LE(max_rel_error(steps.o, ref.o), 2 * base + 1e-3);
    EXPECT_LE(max_rel_error(chunked.state, ref.state), 1e-4);  // states stay fp32
    EXPECT_LE(max_rel_error(steps.state, ref.state), 1e-4);
    return;
  }
  double tol = c.dtype == torch::kFloat64 ? kTolF64 : kTolF32;
  EXPECT_LE(max_rel_error(chunked.o, naive.o), tol);
  EXPECT_LE(max_rel_error(chunked.state, naive.state), tol);
  EXPECT_LE(max_rel_error(steps.o, naive.o), tol);
  EXPECT_LE(max_rel_error(steps.state, naive.state), tol);
}

std::vector<FormsCase> all_cases() {
  std::vector<FormsCase> cases;
  for (auto op : {LinearOp::GatedDeltaNet, LinearOp::Mamba2})
    for (int64_t T : {1, 7, 63, 64, 65, 200})
      for (bool s : {false, true})
        for (auto dt : {torch::kFloat64, torch::kFloat32, torch::kBFloat16})
          cases.push_back({op, T, s, dt});
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Contract1, LinearForms, ::testing::ValuesIn(all_cases()), case_name);

// Chunk sizes other than the default, including one larger than T and one of 1.
TEST(LinearForms, ChunkSizesAgree) {
  seed(7);
  for (auto op : {LinearOp::GatedDeltaNet, LinearOp::Mamba2}) {
    auto in = make_recurrence_inputs(op, 1, 37, 2, 8, 4, torch::kFloat64, true);
    auto forms = forms_of(op);
    auto ref = forms.naive(in.q, in.k, in.v, in.g, in.beta, in.initial_state, in.scale);
    for (int64_t chunk : {1, 5, 16, 64}) {
      auto r = forms.chunked(in.q, in.k, in.v, in.g, in.beta, in.initial_state, in.scale, chunk);
      EXPECT_LE(max_rel_error(r.o, ref.o), kTolF64) << to_string(op) << " chunk " << chunk;
      EXPECT_LE(max_rel_error(r.state, ref.state), kTolF64) << to_string(op) << " chunk " << chunk;
    }
  }
}

// Contract 4: the reference's gradients (every input and the initial state) match finite
// differences in fp64, and the chunked form's gradients match the reference's.
TEST(LinearForms, GradientsMatchFiniteDifferences) {
  for (auto op : {LinearOp::GatedDeltaNet, LinearOp::Mamba2}) {
    seed(11);
    auto in = make_recurrence_inputs(op, 1, 5, 2, 3, 2, torch::kFloat64, true);
    auto inputs = in.all();
    for (auto& t : inputs) t.requires_grad_(true);
    auto w_o = torch::randn({1, 5, 2, 2}, torch::kFloat64);
    auto w_s = torch::randn({1, 2, 3, 2}, torch::kFloat64);
    auto forms = forms_of(op);
    auto loss_of = [&](bool chunked) {
      auto r = chunked ? forms.chunked(inputs[0], inputs[1], inputs[2], inputs[3], inputs[4],
                                       inputs[5], in.scale, 2)
                       : forms.naive(inputs[0], inputs[1], inputs[2], inputs[3], inputs[4],
                                     inputs[5], in.scale);
      return (r.o * w_o).sum() + (r.state * w_s).sum();
    };
    auto grads = torch::autograd::grad({loss_of(false)}, inputs);
    auto grads_chunked = torch::autograd::grad({loss_of(true)}, inputs);
    const char* names[] = {"q", "k", "v", "g", "beta", "initial_state"};
    for (size_t i = 0; i < inputs.size(); ++i) {
      double fd = finite_difference_error([&] { return loss_of(false); }, inputs[i].detach(),
                                          grads[i]);
      EXPECT_LE(fd, 1e-6) << to_string(op) << " d/d" << names[i];
      EXPECT_LE(max_rel_error(grads_chunked[i], grads[i]), 1e-10) << to_string(op) << " chunked d/d" << names[i];
    }
  }
}

TEST(LinearForms, BadShapesAreRejected) {
  auto in = make_recurrence_inputs(LinearOp::GatedDeltaNet, 1, 4, 2, 8, 4, torch::kFloat32, false);
  auto bad_k = torch::randn({1, 4, 2, 7});
  try {
    gdn_chunked(in.q, bad_k, in.v, in.g, in.beta, {}, in.scale, 64);
    FAIL() << "expected an error";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("gdn_chunked: k must have shape [1,4,2,8]"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(ssd_chunked(in.q, in.k, in.v, in.g.narrow(1, 0, 3), in.beta, {}, 1.0, 64), std::exception);
}

}  // namespace
}  // namespace oryx::testing
