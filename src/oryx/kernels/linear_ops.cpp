// Torch-facing glue of the linear-mixer kernels: dtype, device and shape checks, buffer
// allocation, the ChunkParams/StepParams fill, and the autograd function that pairs the
// forward and backward kernels. The kernels themselves are in the .cu files beside this.
#include "oryx/kernels/linear_ops.h"

#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>

#include <cstdlib>

#include "oryx/common/error.h"
#include "oryx/common/shape.h"
#include "oryx/kernels/linear_kernels.h"
#include "oryx/kernels/ops_common.h"

namespace oryx {

namespace {

using torch::Tensor;
namespace K = kernels;

// ORYX_KERNELS_POISON=1 fills every buffer the kernels write with NaN first, so that the GPU
// tests catch an element a kernel forgot to write (METHOD.md: never test on zeros).
bool poison() {
  static const bool on = [] {
    const char* e = std::getenv("ORYX_KERNELS_POISON");
    return e && std::string(e) == "1";
  }();
  return on;
}

Tensor alloc(c10::IntArrayRef sizes, const torch::TensorOptions& opts) {
  return poison() ? torch::full(sizes, NAN, opts) : torch::empty(sizes, opts);
}

K::Mixer mixer_of(LinearKind kind) {
  ORYX_CHECK(kind != LinearKind::None, "linear kernels: this model has no linear mixer");
  return kind == LinearKind::GatedDeltaNet ? K::Mixer::Gdn : K::Mixer::Ssd;
}

struct Shapes {
  int64_t B, T, H, K, V, N;
};

Shapes shapes_of(const Tensor& q, const Tensor& v) {
  Shapes s{q.size(0), q.size(1), q.size(2), q.size(3), v.size(3), 0};
  s.N = (s.T + K::kChunk - 1) / K::kChunk;
  return s;
}

K::ChunkParams params_of(const Shapes& s, double scale) {
  K::ChunkParams p;
  p.B = static_cast<int>(s.B);
  p.T = static_cast<int>(s.T);
  p.H = static_cast<int>(s.H);
  p.K = static_cast<int>(s.K);
  p.V = static_cast<int>(s.V);
  p.N = static_cast<int>(s.N);
  p.scale = static_cast<float>(scale);
  return p;
}

// Runs the forward kernels. q, k, v contiguous bf16; g, beta contiguous fp32; h0 fp32 or
// undefined. With `save`, fills `saved` for the backward.
std::pair<Tensor, Tensor> run_forward(K::Mixer mixer, const Tensor& q, const Tensor& k,
                                      const Tensor& v, const Tensor& g, const Tensor& beta,
                                      const Tensor& h0, double scale, bool save, LinearSaved* saved) {
  Shapes s = shapes_of(q, v);
  auto bf16o = q.options().dtype(torch::kBFloat16);
  auto f32o = q.options().dtype(torch::kFloat32);
  Tensor o = alloc({s.B, s.T, s.H, s.V}, bf16o);
  Tensor ht = alloc({s.B, s.H, s.K, s.V}, f32o);
  if (s.T == 0) {
    ht.copy_(h0.defined() ? h0 : torch::zeros_like(ht));
    return {o, ht};
  }
  const int64_t C = K::kChunk, Tp = s.N * C;
  bool gdn = mixer == K::Mixer::Gdn;
  LinearSaved w;
  w.G = alloc({s.B, s.H, Tp}, f32o);
  w.F = alloc({s.B, s.H, Tp, 4}, f32o);
  w.P = alloc({s.B, s.H, s.N, C, C}, bf16o);
  Tensor U;
  if (gdn) {
    w.A = alloc({s.B, s.H, s.N, C, C}, bf16o);
    w.W = alloc({s.B, s.H, Tp, s.K}, bf16o);
    U = alloc({s.B, s.H, Tp, s.V}, bf16o);
  }
  if (save) {
    if (gdn) w.E = alloc({s.B, s.H, Tp, s.V}, bf16o);
    w.h = alloc({s.B, s.H, s.N, s.K, s.V}, bf16o);
  }
  K::ChunkParams p = params_of(s, scale);
  p.q = K::bf16_ptr(q); p.k = K::bf16_ptr(k); p.v = K::bf16_ptr(v);
  p.g = K::f32_ptr(g); p.beta = K::f32_ptr(beta); p.h0 = K::f32_ptr(h0);
  p.o = K::bf16_mut_ptr(o); p.ht = K::f32_mut_ptr(ht);
  p.G = K::f32_mut_ptr(w.G); p.F = K::f32_mut_ptr(w.F);
  p.P = K::bf16_mut_ptr(w.P); p.A = K::bf16_mut_ptr(w.A); p.W = K::bf16_mut_ptr(w.W); p.U = K::bf16_mut_ptr(U);
  p.E = K::bf16_mut_ptr(w.E); p.h = K::bf16_mut_ptr(w.h);
  p.save = save;
  K::linear_forward(mixer, p, at::cuda::getCurrentCUDAStream());
  K::check_launch("linear kernels forward");
  if (saved) *saved = w;
  return {o, ht};
}

// Inputs in the form the kernels read.
struct Prepared {
  Tensor q, k, v, g, beta, h0;
};

Prepared prepare(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& g,
                 const Tensor& beta, const Tensor& h0) {
  bool has_h0 = h0.defined() && h0.numel() > 0;  // an empty tensor stands for "none"
  return {q.contiguous(), k.contiguous(), v.contiguous(), g.to(torch::kFloat32).contiguous(),
          beta.to(torch::kFloat32).contiguous(),
          has_h0 ? h0.to(torch::kFloat32).contiguous() : Tensor()};
}

// Runs the backward kernels from the forward's intermediates. q, k, v, beta, h0 as prepared
// for the forward; dO and dht may be undefined (no gradient reaches that output).
LinearGrads run_backward(K::Mixer mixer, const Tensor& q, const Tensor& k, const Tensor& v,
                         const Tensor& beta, const Tensor& h0, LinearSaved w,
                         const Tensor& grad_o, const Tensor& grad_ht, double scale) {
  Shapes s = shapes_of(q, v);
  auto bf16o = q.options().dtype(torch::kBFloat16);
  auto f32o = q.options().dtype(torch::kFloat32);
  Tensor dO = grad_o.defined() ? grad_o.to(torch::kBFloat16).contiguous()
                               : torch::zeros({s.B, s.T, s.H, s.V}, bf16o);
  Tensor dht = grad_ht.defined() ? grad_ht.to(torch::kFloat32).contiguous() : Tensor();
  LinearGrads d;
  d.dq = alloc({s.B, s.T, s.H, s.K}, bf16o);
  d.dk = alloc({s.B, s.T, s.H, s.K}, bf16o);
  d.dv = alloc({s.B, s.T, s.H, s.V}, bf16o);
  d.dg = alloc({s.B, s.T, s.H}, f32o);
  d.dbeta = alloc({s.B, s.T, s.H}, f32o);
  d.dh0 = alloc({s.B, s.H, s.K, s.V}, f32o);
  if (s.T == 0) {
    d.dh0.copy_(dht.defined() ? dht : torch::zeros_like(d.dh0));
    return d;
  }
  const int64_t C = K::kChunk, Tp = s.N * C;
  Tensor dE = alloc({s.B, s.H, Tp, s.V}, bf16o);
  Tensor dh = alloc({s.B, s.H, s.N, s.K, s.V}, bf16o);
  K::ChunkParams p = params_of(s, scale);
  p.q = K::bf16_ptr(q); p.k = K::bf16_ptr(k); p.v = K::bf16_ptr(v); p.beta = K::f32_ptr(beta); p.h0 = K::f32_ptr(h0);
  p.G = K::f32_mut_ptr(w.G); p.F = K::f32_mut_ptr(w.F);
  p.P = K::bf16_mut_ptr(w.P); p.A = K::bf16_mut_ptr(w.A); p.W = K::bf16_mut_ptr(w.W);
  p.E = K::bf16_mut_ptr(w.E); p.h = K::bf16_mut_ptr(w.h);
  p.dO = K::bf16_ptr(dO); p.dht = K::f32_ptr(dht);
  p.dE = K::bf16_mut_ptr(dE); p.dh = K::bf16_mut_ptr(dh);
  p.dq = K::bf16_mut_ptr(d.dq); p.dk = K::bf16_mut_ptr(d.dk); p.dv = K::bf16_mut_ptr(d.dv);
  p.dg = K::f32_mut_ptr(d.dg); p.dbeta = K::f32_mut_ptr(d.dbeta); p.dh0 = K::f32_mut_ptr(d.dh0);
  K::linear_backward(mixer, p, at::cuda::getCurrentCUDAStream());
  K::check_launch("linear kernels backward");
  return d;
}

// The checks of every sequence call: shapes and devices (mixers/recurrence.h), then whether
// the kernels take these inputs.
void check_chunked_call(const char* op, const Tensor& q, const Tensor& k, const Tensor& v,
                        const Tensor& g, const Tensor& beta, const Tensor& initial_state) {
  recurrence_check_inputs(op, q, k, v, g, beta, initial_state);
  ORYX_CHECK(kernels_linear_supported(q, k, v), op, ": unsupported inputs (need bf16 CUDA q/k/v ",
             "with K = V in {64, 128} on sm_90)");
  if (initial_state.defined()) check_same_device(q, initial_state, op);
}

// The intermediates a backward is handed (by the torch operator, which cannot vouch for them)
// are those a forward of these shapes saves: the kernels index them without bounds.
void check_saved(const char* op, K::Mixer mixer, const Shapes& s, torch::Device device, const LinearSaved& w) {
  const int64_t C = K::kChunk, Tp = s.N * C;
  auto expect = [&](const char* name, const Tensor& t, std::vector<int64_t> sizes, torch::ScalarType dtype) {
    ORYX_CHECK(t.defined(), op, ": the forward's intermediate ", name,
               " is missing (run the forward with saving on, with the same mixer)");
    ORYX_CHECK(t.sizes() == c10::IntArrayRef(sizes) && t.scalar_type() == dtype && t.is_contiguous() &&
                   t.device() == device,
               op, ": intermediate ", name, " is ", shape_str(t.sizes()), " ", t.scalar_type(), ", expected ",
               shape_str(sizes), " ", dtype, " contiguous on ", device);
  };
  expect("G", w.G, {s.B, s.H, Tp}, torch::kFloat32);
  expect("F", w.F, {s.B, s.H, Tp, 4}, torch::kFloat32);
  expect("P", w.P, {s.B, s.H, s.N, C, C}, torch::kBFloat16);
  expect("h", w.h, {s.B, s.H, s.N, s.K, s.V}, torch::kBFloat16);
  if (mixer == K::Mixer::Gdn) {
    expect("A", w.A, {s.B, s.H, s.N, C, C}, torch::kBFloat16);
    expect("W", w.W, {s.B, s.H, Tp, s.K}, torch::kBFloat16);
    expect("E", w.E, {s.B, s.H, Tp, s.V}, torch::kBFloat16);
  }
}

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

struct LinearChunkedFunction : public torch::autograd::Function<LinearChunkedFunction> {
  static variable_list forward(AutogradContext* ctx, const Tensor& q, const Tensor& k,
                               const Tensor& v, const Tensor& g, const Tensor& beta,
                               const Tensor& h0, int64_t mixer, double scale) {
    ctx->set_materialize_grads(false);  // an unused output's gradient stays undefined
    Prepared in = prepare(q, k, v, g, beta, h0);
    LinearSaved sv;
    auto [o, ht] = run_forward(static_cast<K::Mixer>(mixer), in.q, in.k, in.v, in.g, in.beta,
                               in.h0, scale, /*save=*/true, &sv);
    ctx->save_for_backward({in.q, in.k, in.v, in.beta, in.h0, sv.G, sv.F, sv.P, sv.A, sv.W, sv.E, sv.h});
    ctx->saved_data["mixer"] = mixer;
    ctx->saved_data["scale"] = scale;
    ctx->saved_data["g_dtype"] = static_cast<int64_t>(g.scalar_type());
    ctx->saved_data["beta_dtype"] = static_cast<int64_t>(beta.scalar_type());
    ctx->saved_data["h0_defined"] = h0.numel() > 0;
    return {o, ht};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto sv = ctx->get_saved_variables();
    Tensor q = sv[0], k = sv[1], v = sv[2], beta = sv[3], h0 = sv[4];
    LinearSaved w{sv[5], sv[6], sv[7], sv[8], sv[9], sv[10], sv[11]};
    auto mixer = static_cast<K::Mixer>(ctx->saved_data["mixer"].toInt());
    LinearGrads d = run_backward(mixer, q, k, v, beta, h0, w, grads[0], grads[1],
                                 ctx->saved_data["scale"].toDouble());
    auto g_dtype = static_cast<torch::ScalarType>(ctx->saved_data["g_dtype"].toInt());
    auto beta_dtype = static_cast<torch::ScalarType>(ctx->saved_data["beta_dtype"].toInt());
    bool h0_defined = ctx->saved_data["h0_defined"].toBool();
    return {d.dq, d.dk, d.dv, d.dg.to(g_dtype), d.dbeta.to(beta_dtype), h0_defined ? d.dh0 : Tensor(),
            Tensor(), Tensor()};
  }
};

}  // namespace

bool kernels_linear_supported(const Tensor& q, const Tensor& k, const Tensor& v) {
  if (!q.is_cuda() || q.dim() != 4 || v.dim() != 4) return false;
  if (q.scalar_type() != torch::kBFloat16 || k.scalar_type() != torch::kBFloat16 ||
      v.scalar_type() != torch::kBFloat16)
    return false;
  if (!K::linear_dims_supported(static_cast<int>(q.size(3)), static_cast<int>(v.size(3)))) return false;
  return K::is_hopper(q);
}

bool kernels_step_supported(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& state) {
  if (!q.is_cuda() || q.dim() != 3 || v.dim() != 3) return false;
  auto dt = q.scalar_type();
  if (dt != torch::kBFloat16 && dt != torch::kFloat32) return false;
  if (k.scalar_type() != dt || v.scalar_type() != dt || state.scalar_type() != torch::kFloat32)
    return false;
  int64_t Kd = q.size(2), Vd = v.size(2);
  if (!((Kd == 64 || Kd == 128) && (Vd == 64 || Vd == 128))) return false;
  return K::is_hopper(q);
}

int kernels_sm_count(const Tensor& t) { return at::cuda::getDeviceProperties(t.device().index())->multiProcessorCount; }

RecurrenceOutput kernels_linear_chunked(LinearKind kind, const Tensor& q, const Tensor& k,
                                        const Tensor& v, const Tensor& g, const Tensor& beta,
                                        const Tensor& initial_state, double scale) {
  bool grad = torch::GradMode::is_enabled() &&
              (q.requires_grad() || k.requires_grad() || v.requires_grad() || g.requires_grad() ||
               beta.requires_grad() || (initial_state.defined() && initial_state.requires_grad()));
  if (!grad) return kernels_linear_forward(kind, q, k, v, g, beta, initial_state, scale, /*saved=*/nullptr);
  check_chunked_call("linear kernels", q, k, v, g, beta, initial_state);
  c10::cuda::CUDAGuard guard(q.device());
  // torch::autograd::Function takes no undefined tensors: "no initial state" travels as an
  // empty tensor (whose gradient is then undefined).
  Tensor h0 = initial_state.defined() ? initial_state : torch::empty({0}, q.options().dtype(torch::kFloat32));
  auto out = LinearChunkedFunction::apply(q, k, v, g, beta, h0, static_cast<int64_t>(mixer_of(kind)), scale);
  return {out[0], out[1]};
}

RecurrenceOutput kernels_linear_step(LinearKind kind, const Tensor& q, const Tensor& k,
                                     const Tensor& v, const Tensor& g, const Tensor& beta,
                                     const Tensor& state, double scale, bool in_place) {
  const char* op = "linear kernels step";
  recurrence_check_step_inputs(op, q, k, v, g, beta, state);
  ORYX_CHECK(kernels_step_supported(q, k, v, state), op, ": unsupported inputs");
  c10::cuda::CUDAGuard guard(q.device());
  int64_t B = q.size(0), H = q.size(1), Kd = q.size(2), Vd = v.size(2);
  Tensor qc = q.contiguous(), kc = k.contiguous(), vc = v.contiguous();
  Tensor gc = g.to(torch::kFloat32).contiguous(), bc = beta.to(torch::kFloat32).contiguous();
  Tensor s_in = state.contiguous();
  Tensor s_out;
  if (in_place) {
    ORYX_CHECK(state.is_contiguous(), op, ": an in-place step needs a contiguous state");
    s_out = state;
  } else {
    s_out = alloc({B, H, Kd, Vd}, state.options());
  }
  Tensor o = alloc({B, H, Vd}, v.options());
  K::StepParams p;
  p.B = static_cast<int>(B); p.H = static_cast<int>(H);
  p.K = static_cast<int>(Kd); p.V = static_cast<int>(Vd);
  p.scale = static_cast<float>(scale);
  p.fp32_inputs = q.scalar_type() == torch::kFloat32;
  p.q = qc.data_ptr(); p.k = kc.data_ptr(); p.v = vc.data_ptr();
  p.g = gc.data_ptr<float>(); p.beta = bc.data_ptr<float>();
  p.state_in = s_in.data_ptr<float>(); p.state_out = s_out.data_ptr<float>();
  p.o = o.data_ptr();
  K::linear_step(mixer_of(kind), p, at::cuda::getCurrentCUDAStream());
  K::check_launch(op);
  return {o, s_out};
}

RecurrenceOutput kernels_linear_forward(LinearKind kind, const Tensor& q, const Tensor& k,
                                        const Tensor& v, const Tensor& g, const Tensor& beta,
                                        const Tensor& initial_state, double scale, LinearSaved* saved) {
  check_chunked_call("linear kernels", q, k, v, g, beta, initial_state);
  c10::cuda::CUDAGuard guard(q.device());
  Prepared in = prepare(q, k, v, g, beta, initial_state);
  auto [o, ht] = run_forward(mixer_of(kind), in.q, in.k, in.v, in.g, in.beta, in.h0, scale,
                             /*save=*/saved != nullptr, saved);
  return {o, ht};
}

LinearGrads kernels_linear_backward(LinearKind kind, const Tensor& q, const Tensor& k,
                                    const Tensor& v, const Tensor& g, const Tensor& beta,
                                    const Tensor& initial_state, const LinearSaved& saved,
                                    const Tensor& grad_o, const Tensor& grad_state, double scale) {
  const char* op = "linear kernels backward";
  check_chunked_call(op, q, k, v, g, beta, initial_state);
  if (q.size(1) > 0) check_saved(op, mixer_of(kind), shapes_of(q, v), q.device(), saved);
  c10::cuda::CUDAGuard guard(q.device());
  Prepared in = prepare(q, k, v, g, beta, initial_state);
  return run_backward(mixer_of(kind), in.q, in.k, in.v, in.beta, in.h0, saved, grad_o, grad_state, scale);
}

}  // namespace oryx
