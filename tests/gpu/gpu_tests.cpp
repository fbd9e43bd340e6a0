// oryx_gpu_tests: every linear-mixer CUDA kernel against the reference, on the device.
// (SPEC contract 4; built with ORYX_CUDA=ON, run by hand or by runs/gpu-kernels.sh on a
// Hopper GPU; CI only compiles it.)
//
// For each case the inputs are drawn from the layer's real domains (tests/support/inputs.h),
// rounded to bf16 once, and both sides see exactly those values:
//   reference  gdn_chunked / ssd_chunked in fp32 on the GPU (fp32 upcasts of the bf16
//              inputs), gradients by autograd through it;
//   kernels    linear_chunked (the dispatch the layer calls) on the bf16 tensors, gradients
//              through the kernels' autograd function.
// The loss is <o, Wo> + <S_T, Ws> with random Wo (bf16-exact) and Ws, so every output and
// the final state carry gradient. Error = max|kernel - ref| / max|ref| per tensor (one number,
// robust to near-zero entries); the RMS ratio ||kernel - ref|| / ||ref|| is printed beside it.
//
// Bounds (max-relative): the kernels run every product with bf16 operands and fp32
// accumulation, as fla's and mamba's kernels do; METHOD.md puts bf16-operand results between
// 1e-3 and 1e-2. Forward outputs and states: 1e-2. Gradients, which chain up to five bf16
// products (and, for GDN, the inverse of the UT transform): 2e-2. The reference's own error
// from rounding its output to bf16 is printed as "o_bf16" for scale. Every buffer the kernels
// write starts as NaN (ORYX_KERNELS_POISON=1), so an unwritten element fails as NaN.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "oryx/kernels/linear_kernels.h"
#include "oryx/kernels/linear_ops.h"
#include "oryx/mixers/dispatch.h"
#include "oryx/mixers/gdn/gdn.h"
#include "oryx/mixers/mamba2/mamba2.h"
#include "support/inputs.h"
#include "support/tolerance.h"

namespace oryx::testing {
namespace {

constexpr double kBoundForward = 1e-2;
constexpr double kBoundGrad = 2e-2;

double rms_ratio(const torch::Tensor& a, const torch::Tensor& b) {
  auto af = a.detach().to(torch::kFloat64).cpu(), bf = b.detach().to(torch::kFloat64).cpu();
  double den = bf.norm().item<double>();
  double num = (af - bf).norm().item<double>();
  if (std::isnan(num)) return INFINITY;
  return den > 0 ? num / den : num;
}

struct Check {
  std::string name;
  double max_rel, rms, bound;
};

int g_failures = 0;

void report(const std::string& id, const std::vector<Check>& checks, double o_bf16 = -1) {
  bool ok = true;
  for (const auto& c : checks) ok = ok && c.max_rel <= c.bound;
  std::printf("%-34s", id.c_str());
  for (const auto& c : checks) std::printf(" %s %.1e", c.name.c_str(), c.max_rel);
  if (o_bf16 >= 0) std::printf(" | o_bf16 %.1e", o_bf16);
  std::printf("  %s\n", ok ? "ok" : "FAIL");
  if (!ok) {
    ++g_failures;
    for (const auto& c : checks)
      if (!(c.max_rel <= c.bound))
        std::printf("    %s: max-rel %.3e (rms %.3e) exceeds %.1e\n", c.name.c_str(), c.max_rel, c.rms, c.bound);
  }
  std::fflush(stdout);
}

// When the reference is identically zero (e.g. dg with T = 1 and no initial state: the decay
// only scales a zero state), a relative error means nothing; the absolute error is reported
// instead, bounded by fp32 rounding of the terms that cancel (1e-5).
Check check(const char* name, const torch::Tensor& a, const torch::Tensor& b, double bound) {
  if (b.detach().abs().max().item<double>() == 0.0) {
    double abs_err = a.detach().abs().max().item<double>();
    return {std::string(name) + "(abs)", std::isnan(abs_err) ? INFINITY : abs_err, abs_err, 1e-5};
  }
  return {name, max_rel_error(a, b), rms_ratio(a, b), bound};
}

LinearKind kind_of(LinearOp op) {
  return op == LinearOp::GatedDeltaNet ? LinearKind::GatedDeltaNet : LinearKind::Mamba2;
}

struct ChunkCase {
  LinearOp op;
  int64_t B, T, H, D;
  bool with_state;
  bool strided;  // q, k, v as non-contiguous views
};

void run_chunk_case(const ChunkCase& c, uint64_t seed_value) {
  seed(seed_value);
  auto cuda = torch::Device(torch::kCUDA);
  auto in = make_recurrence_inputs(c.op, c.B, c.T, c.H, c.D, c.D, torch::kFloat64, c.with_state);
  auto f32 = torch::TensorOptions().dtype(torch::kFloat32).device(cuda);
  auto to16 = [&](const torch::Tensor& t) { return t.to(cuda).to(torch::kBFloat16); };
  torch::Tensor q16 = to16(in.q), k16 = to16(in.k), v16 = to16(in.v);
  if (c.strided) {  // the same values inside a wider buffer: [B,T,H,2D] sliced to D
    auto widen = [](const torch::Tensor& t) {
      auto w = torch::zeros({t.size(0), t.size(1), t.size(2), 2 * t.size(3)}, t.options());
      w.narrow(3, 0, t.size(3)).copy_(t);
      return w.narrow(3, 0, t.size(3));
    };
    q16 = widen(q16); k16 = widen(k16); v16 = widen(v16);
  }
  torch::Tensor g = in.g.to(f32), beta = in.beta.to(f32);
  torch::Tensor h0 = c.with_state ? in.initial_state.to(f32) : torch::Tensor();

  // Reference, fp32.
  auto leaf = [](const torch::Tensor& t) {
    return t.defined() ? t.to(torch::kFloat32).detach().clone().requires_grad_(true) : torch::Tensor();
  };
  std::vector<torch::Tensor> rin = {leaf(q16), leaf(k16), leaf(v16), leaf(g), leaf(beta)};
  if (c.with_state) rin.push_back(leaf(h0));
  torch::Tensor rh0 = c.with_state ? rin[5] : torch::Tensor();
  auto chunked = c.op == LinearOp::GatedDeltaNet ? gdn_chunked : ssd_chunked;
  auto ref = chunked(rin[0], rin[1], rin[2], rin[3], rin[4], rh0, in.scale, 64);
  auto Wo = torch::randn(ref.o.sizes(), f32).to(torch::kBFloat16).to(torch::kFloat32);
  auto Ws = torch::randn(ref.state.sizes(), f32);
  auto ref_loss = (ref.o * Wo).sum() + (ref.state * Ws).sum();
  auto ref_grads = torch::autograd::grad({ref_loss}, rin);

  // Kernels, through the dispatch the layer uses.
  std::vector<torch::Tensor> kin = {q16.detach().requires_grad_(true), k16.detach().requires_grad_(true),
                                    v16.detach().requires_grad_(true), g.clone().requires_grad_(true),
                                    beta.clone().requires_grad_(true)};
  if (c.with_state) kin.push_back(h0.clone().requires_grad_(true));
  torch::Tensor kh0 = c.with_state ? kin[5] : torch::Tensor();
  TORCH_CHECK(std::string(linear_backend_name(kin[0])) == "cuda-kernels",
              "dispatch does not pick the kernels for these inputs");
  auto out = linear_chunked(kind_of(c.op), kin[0], kin[1], kin[2], kin[3], kin[4], kh0, in.scale, 64);
  auto loss = (out.o.to(torch::kFloat32) * Wo).sum() + (out.state * Ws).sum();
  auto grads = torch::autograd::grad({loss}, kin);

  // Forward only (no autograd: the inference path, which saves nothing) must agree too.
  torch::Tensor o_nograd;
  {
    torch::NoGradGuard ng;
    o_nograd = linear_chunked(kind_of(c.op), q16, k16, v16, g, beta, h0, in.scale, 64).o;
  }

  std::vector<Check> checks = {check("o", out.o, ref.o, kBoundForward),
                               check("o_inf", o_nograd, ref.o, kBoundForward),
                               check("state", out.state, ref.state, kBoundForward)};
  const char* names[] = {"dq", "dk", "dv", "dg", "dbeta", "dh0"};
  for (size_t i = 0; i < kin.size(); ++i) checks.push_back(check(names[i], grads[i], ref_grads[i], kBoundGrad));
  char id[96];
  std::snprintf(id, sizeof id, "%s D%lld B%lld H%lld T%lld %s%s", to_string(c.op), (long long)c.D,
                (long long)c.B, (long long)c.H, (long long)c.T, c.with_state ? "state" : "nostate",
                c.strided ? " strided" : "");
  report(id, checks, max_rel_error(ref.o.to(torch::kBFloat16), ref.o));
}

// The forward's intermediates, stage by stage, against the chunked form's formulas in fp64
// (kernels/linear_params.h lists them): pinpoints which kernel is off when a case fails.
void run_forward_stages(LinearOp op, int64_t D, uint64_t seed_value) {
  namespace K = oryx::kernels;
  seed(seed_value);
  auto cuda = torch::Device(torch::kCUDA);
  const int64_t B = 1, T = 130, H = 2, C = 64, N = (T + C - 1) / C, Tp = N * C;
  bool gdn = op == LinearOp::GatedDeltaNet;
  auto in = make_recurrence_inputs(op, B, T, H, D, D, torch::kFloat64, true);
  auto q16 = in.q.to(cuda).to(torch::kBFloat16), k16 = in.k.to(cuda).to(torch::kBFloat16),
       v16 = in.v.to(cuda).to(torch::kBFloat16);
  auto f32 = torch::TensorOptions().dtype(torch::kFloat32).device(cuda);
  auto bf = torch::TensorOptions().dtype(torch::kBFloat16).device(cuda);
  auto g = in.g.to(f32), beta = in.beta.to(f32), h0 = in.initial_state.to(f32);
  // Kernel side: the launcher with our own buffers.
  auto o = torch::full({B, T, H, D}, NAN, bf), ht = torch::full({B, H, D, D}, NAN, f32);
  auto G = torch::full({B, H, Tp}, NAN, f32), P = torch::full({B, H, N, C, C}, NAN, bf);
  auto F = torch::full({B, H, Tp, 4}, NAN, f32);
  auto A = torch::full({B, H, N, C, C}, NAN, bf), W = torch::full({B, H, Tp, D}, NAN, bf);
  auto U = torch::full({B, H, Tp, D}, NAN, bf), E = torch::full({B, H, Tp, D}, NAN, bf);
  auto h = torch::full({B, H, N, D, D}, NAN, bf);
  K::ChunkParams p;
  p.B = B; p.T = T; p.H = H; p.K = D; p.V = D; p.N = N; p.scale = static_cast<float>(in.scale);
  auto cb = [](const torch::Tensor& t) { return reinterpret_cast<const K::bf16_bits*>(t.data_ptr()); };
  auto mb = [](torch::Tensor& t) { return reinterpret_cast<K::bf16_bits*>(t.data_ptr()); };
  p.q = cb(q16); p.k = cb(k16); p.v = cb(v16); p.g = g.data_ptr<float>(); p.beta = beta.data_ptr<float>();
  p.h0 = h0.data_ptr<float>(); p.o = mb(o); p.ht = ht.data_ptr<float>();
  p.G = G.data_ptr<float>(); p.F = F.data_ptr<float>(); p.P = mb(P); p.A = gdn ? mb(A) : nullptr; p.W = gdn ? mb(W) : nullptr;
  p.U = gdn ? mb(U) : nullptr; p.E = gdn ? mb(E) : nullptr; p.h = mb(h); p.save = true;
  K::linear_forward(gdn ? K::Mixer::Gdn : K::Mixer::Ssd, p, nullptr);
  TORCH_CHECK(cudaDeviceSynchronize() == cudaSuccess, "forward stages: CUDA error");

  // Reference side, fp64 on the CPU, per head: [B,H,N,C,*] chunks of the bf16 inputs.
  auto f64 = [](const torch::Tensor& t) { return t.to(torch::kCPU).to(torch::kFloat64); };
  auto Qc = recurrence_to_chunks(f64(q16), C), Kc = recurrence_to_chunks(f64(k16), C);
  auto Vc = recurrence_to_chunks(f64(v16), C);
  auto Gr = recurrence_to_chunks(f64(g), C).cumsum(-1);
  auto br = recurrence_to_chunks(f64(beta), C).unsqueeze(-1);
  auto diff = Gr.unsqueeze(-1) - Gr.unsqueeze(-2);
  auto incl = torch::ones({C, C}, torch::kBool).tril(), strict = torch::ones({C, C}, torch::kBool).tril(-1);
  auto Pr = torch::matmul(Qc, Kc.transpose(-1, -2)) * diff.masked_fill(incl.logical_not(), -INFINITY).exp() * in.scale;
  std::vector<Check> checks = {check("G", G.view({B, H, N, C}), Gr, 1e-5), check("P", P, Pr, 1e-2)};
  torch::Tensor Wr, Ur;
  if (gdn) {
    auto L = torch::matmul(br * Kc, Kc.transpose(-1, -2)) * diff.masked_fill(strict.logical_not(), -INFINITY).exp();
    auto Ar = torch::inverse(torch::eye(C, torch::kFloat64) + L);
    Wr = torch::matmul(Ar, br * Gr.exp().unsqueeze(-1) * Kc);
    Ur = torch::matmul(Ar, br * Vc);
    checks.push_back(check("A", A, Ar, 1e-2));
    checks.push_back(check("W", W.view({B, H, N, C, D}), Wr, 1e-2));
    checks.push_back(check("U", U.view({B, H, N, C, D}), Ur, 1e-2));
  }
  // States at chunk starts and E, from the reference recurrence on the kernel's own W, U
  // (so that this checks the state kernel alone).
  auto S = f64(h0);
  auto Wk = f64(W).view({B, H, N, C, D}), Uk = f64(U).view({B, H, N, C, D});
  std::vector<torch::Tensor> hs, es;
  for (int64_t n = 0; n < N; ++n) {
    hs.push_back(S);
    auto Kn = Kc.select(2, n), Gn = Gr.select(2, n);
    auto Gl = Gn.select(-1, C - 1);
    auto En = gdn ? Uk.select(2, n) - torch::matmul(Wk.select(2, n), S) : br.select(2, n) * Vc.select(2, n);
    es.push_back(En);
    S = S * Gl.exp().unsqueeze(-1).unsqueeze(-1) +
        torch::matmul((Kn * (Gl.unsqueeze(-1) - Gn).exp().unsqueeze(-1)).transpose(-1, -2), En);
  }
  checks.push_back(check("h", h, torch::stack(hs, 2), 1e-2));
  if (gdn) checks.push_back(check("E", E.view({B, H, N, C, D}), torch::stack(es, 2), 1e-2));
  checks.push_back(check("ht", ht, S, 1e-2));
  char id[96];
  std::snprintf(id, sizeof id, "stages %s D%lld T%lld", to_string(op), (long long)D, (long long)T);
  report(id, checks);
}

struct StepCase {
  LinearOp op;
  int64_t B, H, D;
  torch::ScalarType dtype;
};

void run_step_case(const StepCase& c, uint64_t seed_value) {
  seed(seed_value);
  auto cuda = torch::Device(torch::kCUDA);
  auto in = make_recurrence_inputs(c.op, c.B, 1, c.H, c.D, c.D, torch::kFloat64, true);
  auto f32 = torch::TensorOptions().dtype(torch::kFloat32).device(cuda);
  auto cast = [&](const torch::Tensor& t) { return t.select(1, 0).to(cuda).to(c.dtype); };
  auto q = cast(in.q), k = cast(in.k), v = cast(in.v);
  auto g = in.g.select(1, 0).to(f32), beta = in.beta.select(1, 0).to(f32);
  auto state = in.initial_state.to(f32);
  auto step = c.op == LinearOp::GatedDeltaNet ? gdn_step : ssd_step;
  auto ref = step(q.to(torch::kFloat32), k.to(torch::kFloat32), v.to(torch::kFloat32), g, beta, state, in.scale);
  auto out = linear_step(kind_of(c.op), q, k, v, g, beta, state, in.scale);
  auto s_inplace = state.clone();
  auto out2 = linear_step_(kind_of(c.op), q, k, v, g, beta, s_inplace, in.scale);
  // fp32 arithmetic in both: tight bounds (bf16 inputs only round the output).
  double bo = c.dtype == torch::kFloat32 ? 1e-5 : 1e-2;
  std::vector<Check> checks = {check("o", out.o, ref.o, bo), check("state", out.state, ref.state, 1e-5),
                               check("o_inplace", out2.o, ref.o, bo),
                               check("state_inplace", s_inplace, ref.state, 1e-5)};
  char id[96];
  std::snprintf(id, sizeof id, "step %s D%lld B%lld H%lld %s", to_string(c.op), (long long)c.D,
                (long long)c.B, (long long)c.H, c.dtype == torch::kFloat32 ? "fp32" : "bf16");
  report(id, checks);
}

// Prefill with the chunked kernel, then decode with the step kernel: the state handed over
// must continue the same recurrence as one chunked call over the whole sequence.
void run_prefill_decode(LinearOp op, int64_t D, uint64_t seed_value) {
  seed(seed_value);
  auto cuda = torch::Device(torch::kCUDA);
  const int64_t B = 2, H = 2, T = 100, T0 = 70;
  auto in = make_recurrence_inputs(op, B, T, H, D, D, torch::kFloat64, true);
  auto f32 = torch::TensorOptions().dtype(torch::kFloat32).device(cuda);
  auto q = in.q.to(cuda).to(torch::kBFloat16), k = in.k.to(cuda).to(torch::kBFloat16),
       v = in.v.to(cuda).to(torch::kBFloat16);
  auto g = in.g.to(f32), beta = in.beta.to(f32), h0 = in.initial_state.to(f32);
  torch::NoGradGuard ng;
  auto full = linear_chunked(kind_of(op), q, k, v, g, beta, h0, in.scale, 64);
  auto pre = linear_chunked(kind_of(op), q.narrow(1, 0, T0), k.narrow(1, 0, T0), v.narrow(1, 0, T0),
                            g.narrow(1, 0, T0), beta.narrow(1, 0, T0), h0, in.scale, 64);
  auto S = pre.state.clone();
  std::vector<torch::Tensor> outs;
  for (int64_t t = T0; t < T; ++t)
    outs.push_back(linear_step_(kind_of(op), q.select(1, t), k.select(1, t), v.select(1, t),
                                g.select(1, t), beta.select(1, t), S, in.scale).o);
  auto tail = torch::stack(outs, 1);
  std::vector<Check> checks = {check("o", tail, full.o.narrow(1, T0, T - T0), kBoundForward),
                               check("state", S, full.state, kBoundForward)};
  char id[96];
  std::snprintf(id, sizeof id, "prefill+decode %s D%lld T%lld+%lld", to_string(op), (long long)D,
                (long long)T0, (long long)(T - T0));
  report(id, checks);
}

// Runs one case; an exception (a CUDA error, a failed check) counts as a failing case and
// the program goes on with the next.
template <class F>
void guarded(const char* what, F&& f) {
  try {
    f();
  } catch (const c10::Error& e) {
    ++g_failures;
    std::printf("%-34s FAIL: %s\n", what, e.what_without_backtrace());
  } catch (const std::exception& e) {
    ++g_failures;
    std::printf("%-34s FAIL: %s\n", what, e.what());
  }
  std::fflush(stdout);
}

}  // namespace
}  // namespace oryx::testing

int main() {
  using namespace oryx::testing;
  setenv("ORYX_KERNELS_POISON", "1", 1);
  if (!torch::cuda::is_available()) {
    std::printf("oryx_gpu_tests: no CUDA device\n");
    return 2;
  }
  std::printf("oryx_gpu_tests: kernels vs fp32 reference, max |kernel - ref| / max |ref| per tensor\n");
  std::printf("bounds: forward %.0e, gradients %.0e (step: fp32 1e-5, bf16 output 1e-2)\n", kBoundForward, kBoundGrad);
  uint64_t s = 1;
  for (auto op : {LinearOp::GatedDeltaNet, LinearOp::Mamba2})
    for (int64_t D : {64, 128}) guarded("forward stages", [&] { run_forward_stages(op, D, ++s); });
  for (auto op : {LinearOp::GatedDeltaNet, LinearOp::Mamba2})
    for (int64_t D : {64, 128}) {
      std::vector<ChunkCase> cases;
      for (int64_t T : {1, 63, 64, 65})
        for (bool st : {false, true}) cases.push_back({op, 2, T, 3, D, st, false});
      for (bool st : {false, true}) cases.push_back({op, 1, 4096 + 17, 2, D, st, false});
      cases.push_back({op, 2, 130, 2, D, true, true});
      // Enough heads for the state passes' wider value tiles (64 and 128 columns per block,
      // chunk_launch.cuh) on a 132-multiprocessor GPU.
      cases.push_back({op, 4, 200, 16, D, true, false});
      cases.push_back({op, 4, 200, 32, D, true, false});
      for (const auto& c : cases) guarded("chunked", [&] { run_chunk_case(c, ++s); });
    }
  for (auto op : {LinearOp::GatedDeltaNet, LinearOp::Mamba2})
    for (int64_t D : {64, 128})
      for (int64_t B : {1, 5})
        for (auto dt : {torch::kBFloat16, torch::kFloat32})
          guarded("step", [&] { run_step_case({op, B, 3, D, dt}, ++s); });
  for (auto op : {LinearOp::GatedDeltaNet, LinearOp::Mamba2})
    for (int64_t D : {64, 128}) guarded("prefill+decode", [&] { run_prefill_decode(op, D, ++s); });
  std::printf("oryx_gpu_tests: %s (%d failing case%s)\n", g_failures ? "FAIL" : "PASS", g_failures,
              g_failures == 1 ? "" : "s");
  return g_failures ? 1 : 0;
}
