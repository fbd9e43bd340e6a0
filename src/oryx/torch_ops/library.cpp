// Our linear-mixer kernels as torch custom operators (namespace `oryx`), built into
// liboryx_ops.so for Python (`torch.ops.load_library`; python/oryx_lm/ops.py loads it and
// registers the autograd formula and the fake-tensor shapes that torch.compile traces with).
//
//   oryx::chunk_linear_fwd(mixer, q, k, v, g, beta, initial_state?, scale, save)
//       -> (o, final_state, saved[])
//   oryx::chunk_linear_bwd(mixer, q, k, v, g, beta, initial_state?, saved[], grad_o,
//                          grad_final_state?, scale) -> (dq, dk, dv, dg, dbeta, dh0)
//   oryx::linear_step(mixer, q, k, v, g, beta, state!, scale) -> o      (state updated in place)
//
// mixer is "gdn" (Gated DeltaNet) or "mamba2" (SSD); shapes and meaning as in
// mixers/recurrence.h. The two halves of the chunked form are separate operators so that the
// forward's intermediates (the kernels' saved[] list, kernels/linear_ops.h) travel to the
// backward as ordinary tensors the compiler can see.
//
// CUDA: the chunked operators run our Hopper kernels and refuse other inputs (bf16 q/k/v,
// K = V in {64, 128}, sm_90); the package decides beforehand and otherwise stays in PyTorch.
// The step runs the step kernel where it applies and the reference elsewhere.
// CPU: the reference chunked form (fp32 accumulation), saved[] is empty and the backward
// recomputes the forward under autograd, so that the operators, their registrations and
// torch.compile can be tested on any machine.
#include <torch/library.h>

#include <string>

#include "oryx/common/error.h"
#include "oryx/mixers/dispatch.h"
#ifdef ORYX_WITH_CUDA_KERNELS
#include "oryx/kernels/linear_ops.h"
#endif

namespace oryx {
namespace {

using torch::Tensor;

LinearKind kind_of(const std::string& mixer) {
  if (mixer == "gdn") return LinearKind::GatedDeltaNet;
  if (mixer == "mamba2") return LinearKind::Mamba2;
  ORYX_FAIL("oryx ops: mixer must be \"gdn\" or \"mamba2\", got \"", mixer, "\"");
}

Tensor or_undefined(const std::optional<Tensor>& t) { return t.has_value() ? *t : Tensor(); }

// ---- CPU: the reference chunked form -------------------------------------------------------

constexpr int64_t kReferenceChunk = 64;

std::tuple<Tensor, Tensor, std::vector<Tensor>> chunk_fwd_cpu(
    const std::string& mixer, const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& g,
    const Tensor& beta, const std::optional<Tensor>& initial_state, double scale, bool save) {
  torch::NoGradGuard no_grad;
  RecurrenceOutput r = linear_chunked(kind_of(mixer), q, k, v, g, beta, or_undefined(initial_state),
                                      scale, kReferenceChunk);
  // An operator's output must not alias an input (an empty sequence returns the initial state).
  if (initial_state.has_value() && r.state.is_alias_of(*initial_state)) r.state = r.state.clone();
  return {r.o, r.state, {}};
}

std::tuple<Tensor, Tensor, Tensor, Tensor, Tensor, Tensor> chunk_bwd_cpu(
    const std::string& mixer, const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& g,
    const Tensor& beta, const std::optional<Tensor>& initial_state, const std::vector<Tensor>& saved,
    const Tensor& grad_o, const std::optional<Tensor>& grad_state, double scale) {
  // The dispatcher calls this below autograd (its keys are excluded in this thread): restore
  // the default key set so that the recomputed forward records a graph.
  c10::impl::ForceDispatchKeyGuard keys(c10::default_included_set, c10::default_excluded_set);
  torch::AutoGradMode grad_mode(true);
  auto leaf = [](const Tensor& t) { return t.detach().requires_grad_(true); };
  Tensor q_ = leaf(q), k_ = leaf(k), v_ = leaf(v), g_ = leaf(g), beta_ = leaf(beta);
  Tensor h0 = initial_state.has_value()
                  ? leaf(*initial_state)
                  : torch::zeros({q.size(0), q.size(2), q.size(3), v.size(3)},
                                 q.options().dtype(torch::kFloat32)).requires_grad_(true);
  RecurrenceOutput r = linear_chunked(kind_of(mixer), q_, k_, v_, g_, beta_, h0, scale, kReferenceChunk);
  std::vector<Tensor> outputs{r.o}, grads{grad_o};
  if (grad_state.has_value()) {
    outputs.push_back(r.state);
    grads.push_back(*grad_state);
  }
  auto d = torch::autograd::grad(outputs, {q_, k_, v_, g_, beta_, h0}, grads,
                                 /*retain_graph=*/false, /*create_graph=*/false, /*allow_unused=*/true);
  // Gradients the graph passes through unchanged (an empty sequence's state) would alias the
  // incoming ones: an operator's outputs are its own.
  auto or_zeros = [&](const Tensor& grad, const Tensor& like) {
    if (!grad.defined()) return torch::zeros_like(like);
    bool alias = grad.is_alias_of(grad_o) || (grad_state.has_value() && grad.is_alias_of(*grad_state));
    return alias ? grad.detach().clone() : grad.detach();
  };
  return {or_zeros(d[0], q), or_zeros(d[1], k), or_zeros(d[2], v), or_zeros(d[3], g),
          or_zeros(d[4], beta), or_zeros(d[5], h0).to(torch::kFloat32)};  // h0 is fp32 already unless fp64
}

// ---- CUDA: our kernels ------------------------------------------------------------------------

#ifdef ORYX_WITH_CUDA_KERNELS
// saved[] in a fixed order; an intermediate the mixer does not have is an empty tensor.
std::vector<Tensor> to_list(const LinearSaved& s, const Tensor& like) {
  std::vector<Tensor> out;
  for (const Tensor& t : {s.G, s.F, s.P, s.A, s.W, s.E, s.h})
    out.push_back(t.defined() ? t : torch::empty({0}, like.options()));
  return out;
}

LinearSaved from_list(const std::vector<Tensor>& list) {
  ORYX_CHECK(list.size() == 7, "oryx::chunk_linear_bwd: saved must be the 7 tensors the forward ",
             "returned with save=True, got ", list.size());
  auto at = [&](size_t i) { return list[i].numel() > 0 ? list[i] : Tensor(); };
  return {at(0), at(1), at(2), at(3), at(4), at(5), at(6)};
}

std::tuple<Tensor, Tensor, std::vector<Tensor>> chunk_fwd_cuda(
    const std::string& mixer, const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& g,
    const Tensor& beta, const std::optional<Tensor>& initial_state, double scale, bool save) {
  LinearSaved saved;
  RecurrenceOutput r = kernels_linear_forward(kind_of(mixer), q, k, v, g, beta, or_undefined(initial_state),
                                              scale, save ? &saved : nullptr);
  return {r.o, r.state, save ? to_list(saved, q) : std::vector<Tensor>{}};
}

std::tuple<Tensor, Tensor, Tensor, Tensor, Tensor, Tensor> chunk_bwd_cuda(
    const std::string& mixer, const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& g,
    const Tensor& beta, const std::optional<Tensor>& initial_state, const std::vector<Tensor>& saved,
    const Tensor& grad_o, const std::optional<Tensor>& grad_state, double scale) {
  LinearGrads d = kernels_linear_backward(kind_of(mixer), q, k, v, g, beta, or_undefined(initial_state),
                                          from_list(saved), grad_o, or_undefined(grad_state), scale);
  return {d.dq.to(q.scalar_type()), d.dk.to(k.scalar_type()), d.dv.to(v.scalar_type()),
          d.dg.to(g.scalar_type()), d.dbeta.to(beta.scalar_type()), d.dh0};
}
#endif

// ---- the step (either device) -------------------------------------------------------------

Tensor step(const std::string& mixer, const Tensor& q, const Tensor& k, const Tensor& v,
            const Tensor& g, const Tensor& beta, Tensor& state, double scale) {
  ORYX_CHECK(state.scalar_type() == torch::kFloat32, "oryx::linear_step: the state must be fp32, got ",
             state.scalar_type());
  return linear_step_(kind_of(mixer), q, k, v, g, beta, state, scale).o;
}

}  // namespace

TORCH_LIBRARY(oryx, m) {
  m.def("chunk_linear_fwd(str mixer, Tensor q, Tensor k, Tensor v, Tensor g, Tensor beta, "
        "Tensor? initial_state, float scale, bool save) -> (Tensor, Tensor, Tensor[])");
  m.def("chunk_linear_bwd(str mixer, Tensor q, Tensor k, Tensor v, Tensor g, Tensor beta, "
        "Tensor? initial_state, Tensor[] saved, Tensor grad_o, Tensor? grad_final_state, "
        "float scale) -> (Tensor, Tensor, Tensor, Tensor, Tensor, Tensor)");
  m.def("linear_step(str mixer, Tensor q, Tensor k, Tensor v, Tensor g, Tensor beta, "
        "Tensor(a!) state, float scale) -> Tensor");
}

TORCH_LIBRARY_IMPL(oryx, CPU, m) {
  m.impl("chunk_linear_fwd", &chunk_fwd_cpu);
  m.impl("chunk_linear_bwd", &chunk_bwd_cpu);
  m.impl("linear_step", &step);
}

#ifdef ORYX_WITH_CUDA_KERNELS
TORCH_LIBRARY_IMPL(oryx, CUDA, m) {
  m.impl("chunk_linear_fwd", &chunk_fwd_cuda);
  m.impl("chunk_linear_bwd", &chunk_bwd_cuda);
  m.impl("linear_step", &step);
}
#endif

}  // namespace oryx
