// oryx_gpu_tests: every CUDA kernel (linear mixers, short convolution, fused norms, QK-norm +
// RoPE, GatedRMSNorm, the head loss's cross-entropy) against the reference, on the device.
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
#include <array>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "oryx/kernels/add_norm_ops.h"
#include "oryx/kernels/linear_kernels.h"
#include "oryx/kernels/linear_ops.h"
#include "oryx/kernels/norm_rope_ops.h"
#include "oryx/eval/loss.h"
#include "oryx/layer/ops.h"
#include "oryx/mixers/dispatch.h"
#include "oryx/model/head_loss.h"
#include "oryx/mixers/gdn/gdn.h"
#include "oryx/mixers/mamba2/mamba2.h"
#include "gpu_check.h"
#include "support/inputs.h"
#include "support/tolerance.h"

namespace oryx::testing {
namespace {

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

// The layer's short convolution: the kernel (short_conv_cached without a cache, bf16) against
// short_conv, the reference, in fp32 on the same bf16-rounded x and weight; gradients of
// <y, Wy> for x and the fp32 weight.
void run_short_conv_case(int64_t B, int64_t T, int64_t C, int64_t W, bool silu, uint64_t seed_value) {
  seed(seed_value);
  auto cuda = torch::TensorOptions().device(torch::kCUDA);
  auto x = torch::randn({B, T, C}, cuda).to(torch::kBFloat16);
  auto w_bf = (torch::randn({C, W}, cuda) * 0.5).to(torch::kBFloat16);
  auto wy = torch::randn({B, T, C}, cuda).to(torch::kBFloat16).to(torch::kFloat32);
  auto xk = x.clone().requires_grad_(true);
  auto wk = w_bf.to(torch::kFloat32).requires_grad_(true);
  auto yk = short_conv_cached(xk, wk, nullptr, true, silu);
  (yk.to(torch::kFloat32) * wy).sum().backward();
  auto xr = x.to(torch::kFloat32).requires_grad_(true);
  auto wr = w_bf.to(torch::kFloat32).requires_grad_(true);
  auto yr = short_conv(xr, wr, torch::Tensor()).y;
  if (silu) yr = torch::silu(yr);
  (yr * wy).sum().backward();
  char id[96];
  std::snprintf(id, sizeof id, "short_conv B%lld T%lld C%lld W%lld%s", (long long)B, (long long)T, (long long)C,
                (long long)W, silu ? " silu" : "");
  report(id, {check("y", yk, yr, kBoundForward), check("dx", xk.grad(), xr.grad(), kBoundGrad),
              check("dw", wk.grad(), wr.grad(), kBoundGrad)},
         max_rel_error(yr.detach().to(torch::kBFloat16), yr.detach()));
}

// The decoding step of the short convolution (short_conv_cached with a cache window, one
// token, bf16: the step kernel, window shifted in place) against short_conv_step in fp32 on
// the same bf16 values, output and new window.
void run_short_conv_step_case(int64_t B, int64_t C, int64_t W, bool silu, uint64_t seed_value) {
  seed(seed_value);
  auto cuda = torch::TensorOptions().device(torch::kCUDA);
  auto x = torch::randn({B, 1, C}, cuda).to(torch::kBFloat16);
  auto w = (torch::randn({C, W}, cuda) * 0.5).to(torch::kBFloat16);
  auto state = torch::randn({B, W - 1, C}, cuda).to(torch::kBFloat16);
  auto state_k = state.clone();
  auto yk = short_conv_cached(x, w, &state_k, /*allow_step=*/true, silu);
  auto r = short_conv_step(x.select(1, 0).to(torch::kFloat32), w.to(torch::kFloat32), state.to(torch::kFloat32));
  auto yr = silu ? torch::silu(r.y) : r.y;
  char id[96];
  std::snprintf(id, sizeof id, "short_conv step B%lld C%lld W%lld%s", (long long)B, (long long)C, (long long)W,
                silu ? " silu" : "");
  report(id, {check("y", yk.select(1, 0), yr, kBoundForward), check("window", state_k, r.state, kBoundForward)},
         max_rel_error(yr.to(torch::kBFloat16), yr));
}

// The fused norms (at::rms_norm on CUDA) against the formulas written out, fp32 and bf16
// inputs, values and gradients.
void run_norm_case(int64_t rows, int64_t D, torch::ScalarType dt, uint64_t seed_value) {
  seed(seed_value);
  auto cuda = torch::TensorOptions().device(torch::kCUDA);
  auto x = (torch::randn({rows, D}, cuda) * 3).to(dt);
  auto w = torch::rand({D}, cuda) + 0.5;
  auto wy = torch::randn({rows, D}, cuda);
  std::vector<Check> checks;
  for (bool l2 : {false, true}) {
    auto xf = x.clone().requires_grad_(true), xr = x.clone().requires_grad_(true);
    auto wf = w.clone().requires_grad_(true), wr = w.clone().requires_grad_(true);
    auto yf = l2 ? l2_normalize(xf) : rms_norm(xf, wf, 1e-6);
    auto yr = l2 ? l2_normalize_reference(xr) : rms_norm_reference(xr, wr, 1e-6);
    (yf.to(torch::kFloat32) * wy).sum().backward();
    (yr.to(torch::kFloat32) * wy).sum().backward();
    double bound = dt == torch::kBFloat16 ? kBoundForward : 1e-5;
    checks.push_back(check(l2 ? "l2" : "rms", yf, yr, bound));
    checks.push_back(check(l2 ? "dx_l2" : "dx_rms", xf.grad(), xr.grad(), dt == torch::kBFloat16 ? kBoundGrad : 1e-4));
    if (!l2) checks.push_back(check("dw_rms", wf.grad(), wr.grad(), dt == torch::kBFloat16 ? kBoundGrad : 1e-4));
  }
  if (dt == torch::kBFloat16 && (D == 64 || D == 128)) {  // heads [B,T,H,K]: the norm kernel
    auto x4 = x.view({1, rows, 1, D}).clone().requires_grad_(true), xr4 = x4.detach().clone().requires_grad_(true);
    (l2_normalize(x4).to(torch::kFloat32) * wy.view({1, rows, 1, D})).sum().backward();
    (l2_normalize_reference(xr4).to(torch::kFloat32) * wy.view({1, rows, 1, D})).sum().backward();
    checks.push_back(check("l2_heads", l2_normalize(x4), l2_normalize_reference(xr4), kBoundForward));
    checks.push_back(check("dx_l2_heads", x4.grad(), xr4.grad(), kBoundGrad));
  }
  char id[64];
  std::snprintf(id, sizeof id, "norms %lldx%lld %s", (long long)rows, (long long)D,
                dt == torch::kBFloat16 ? "bf16" : "fp32");
  report(id, checks);
}

// The fused head loss on bf16 CUDA hidden states (our cross-entropy kernels, several chunks)
// against token_loss of the full fp32 logits of the same bf16 values; every seventh target
// ignored.
void run_head_loss_case(int64_t N, int64_t D, int64_t V, int64_t chunk, uint64_t seed_value) {
  seed(seed_value);
  auto cuda = torch::TensorOptions().device(torch::kCUDA);
  auto h = torch::randn({N, D}, cuda).to(torch::kBFloat16);
  auto w = (torch::randn({V, D}, cuda) * 0.2).to(torch::kBFloat16).to(torch::kFloat32);
  auto t = torch::randint(V, {N}, cuda.dtype(torch::kLong));
  t.index_put_({torch::arange(0, N, 7, cuda.dtype(torch::kLong))}, kIgnoreIndex);
  auto hk = h.clone().requires_grad_(true), wk = w.clone().requires_grad_(true);
  auto lk = linear_cross_entropy(hk, wk, t, kIgnoreIndex, chunk);
  lk.backward();
  auto hr = h.to(torch::kFloat32).requires_grad_(true), wr = w.clone().requires_grad_(true);
  auto lr = token_loss(torch::nn::functional::linear(hr, wr), t);
  lr.backward();
  char id[64];
  std::snprintf(id, sizeof id, "head_loss N%lld D%lld V%lld", (long long)N, (long long)D, (long long)V);
  report(id, {check("loss", lk.detach(), lr.detach(), kBoundForward), check("dh", hk.grad(), hr.grad(), kBoundGrad),
              check("dw", wk.grad(), wr.grad(), kBoundGrad)});
}

// The fused QK-norm + RoPE kernel against rope_apply(rms_norm(x)) in fp32 on the same bf16
// x, at positions from `offset` (a cache's continuation), with and without the norm.
void run_norm_rope_case(int64_t B, int64_t T, int64_t H, int64_t K, int64_t offset, bool norm, uint64_t seed_value) {
  seed(seed_value);
  auto cuda = torch::TensorOptions().device(torch::kCUDA);
  auto x = (torch::randn({B, T, H, K}, cuda) * 2).to(torch::kBFloat16);
  auto w = torch::rand({K}, cuda) + 0.5;
  auto pos = torch::arange(offset, offset + T, cuda.dtype(torch::kLong));
  auto wy = torch::randn({B, T, H, K}, cuda);
  auto xk = x.clone().requires_grad_(true), wk = w.clone().requires_grad_(true);
  auto yk = kernels_norm_rope(xk, norm ? wk : torch::Tensor(), pos, 10000.0, 1e-6);
  (yk.to(torch::kFloat32) * wy).sum().backward();
  auto xr = x.to(torch::kFloat32).requires_grad_(true), wr = w.clone().requires_grad_(true);
  auto yr = rope_apply(norm ? rms_norm_reference(xr, wr, 1e-6) : xr, pos, 10000.0);
  (yr * wy).sum().backward();
  std::vector<Check> checks = {check("y", yk, yr, kBoundForward), check("dx", xk.grad(), xr.grad(), kBoundGrad)};
  if (norm) checks.push_back(check("dw", wk.grad(), wr.grad(), kBoundGrad));
  char id[80];
  std::snprintf(id, sizeof id, "norm_rope B%lld T%lld H%lld K%lld +%lld%s", (long long)B, (long long)T, (long long)H,
                (long long)K, (long long)offset, norm ? "" : " rope-only");
  report(id, checks, max_rel_error(yr.detach().to(torch::kBFloat16), yr.detach()));
}

// The GatedRMSNorm kernel (gated_rms_norm on bf16 CUDA tensors) against its formula in fp32
// on the same bf16 o and gate.
void run_gated_norm_case(int64_t rows, int64_t H, int64_t V, uint64_t seed_value) {
  seed(seed_value);
  auto cuda = torch::TensorOptions().device(torch::kCUDA);
  auto o = (torch::randn({rows, H, V}, cuda) * 2).to(torch::kBFloat16);
  auto gate = (torch::randn({rows, H, V}, cuda) * 2).to(torch::kBFloat16);
  auto w = torch::rand({V}, cuda) + 0.5;
  auto wy = torch::randn({rows, H, V}, cuda);
  auto ok = o.clone().requires_grad_(true), gk = gate.clone().requires_grad_(true), wk = w.clone().requires_grad_(true);
  (gated_rms_norm(ok, gk, wk, 1e-6).to(torch::kFloat32) * wy).sum().backward();
  auto orf = o.to(torch::kFloat32).requires_grad_(true), grf = gate.to(torch::kFloat32).requires_grad_(true);
  auto wr = w.clone().requires_grad_(true);
  auto yr = gated_rms_norm_reference(orf, grf, wr, 1e-6);
  (yr * wy).sum().backward();
  auto yk = gated_rms_norm(o, gate, w, 1e-6);
  char id[64];
  std::snprintf(id, sizeof id, "gated_norm %lldx%lld V%lld", (long long)rows, (long long)H, (long long)V);
  report(id, {check("y", yk, yr, kBoundForward), check("do", ok.grad(), orf.grad(), kBoundGrad),
              check("dgate", gk.grad(), grf.grad(), kBoundGrad), check("dw", wk.grad(), wr.grad(), kBoundGrad)},
         max_rel_error(yr.detach().to(torch::kBFloat16), yr.detach()));
}

// The residual add + RMSNorm kernel against add_rms_norm_reference in fp32 on the same
// bf16 delta, with and without a delta, gradients through both outputs.
void run_add_norm_case(int64_t rows, int64_t D, bool with_delta, uint64_t seed_value) {
  seed(seed_value);
  auto cuda = torch::TensorOptions().device(torch::kCUDA);
  auto h = torch::randn({rows, D}, cuda) * 2;
  auto delta = with_delta ? torch::randn({rows, D}, cuda).to(torch::kBFloat16) : torch::Tensor();
  auto w = torch::rand({D}, cuda) + 0.5;
  auto wx = torch::randn({rows, D}, cuda), ws = torch::randn({rows, D}, cuda);
  auto leaf = [](const torch::Tensor& t) { return t.defined() ? t.clone().requires_grad_(true) : t; };
  auto hk = leaf(h), dk = leaf(delta), wk = leaf(w);
  auto [sk, xk] = kernels_add_norm(hk, dk, wk, 1e-6);
  ((xk.to(torch::kFloat32) * wx).sum() + (sk * ws).sum()).backward();
  auto hr = leaf(h), dr = with_delta ? delta.to(torch::kFloat32).requires_grad_(true) : torch::Tensor(), wr = leaf(w);
  auto [sr, xr] = add_rms_norm_reference(hr, dr, wr, 1e-6);
  ((xr * wx).sum() + (sr * ws).sum()).backward();
  std::vector<Check> checks = {check("x", xk, xr, kBoundForward), check("sum", sk, sr, kBoundForward),
                               check("dh", hk.grad(), hr.grad(), kBoundGrad), check("dw", wk.grad(), wr.grad(), kBoundGrad)};
  if (with_delta) checks.push_back(check("ddelta", dk.grad(), dr.grad(), kBoundGrad));
  char id[64];
  std::snprintf(id, sizeof id, "add_norm %lldx%lld%s", (long long)rows, (long long)D, with_delta ? "" : " no-delta");
  report(id, checks, max_rel_error(xr.detach().to(torch::kBFloat16), xr.detach()));
}

// The MLP's SwiGLU kernel against silu(gate) * up in fp32 on the same bf16 inputs; n covers
// the 8-wide vector path and the one-at-a-time tail path (odd n).
void run_swiglu_case(int64_t n, uint64_t seed_value) {
  seed(seed_value);
  auto cuda = torch::TensorOptions().device(torch::kCUDA);
  auto gate = (torch::randn({n}, cuda) * 3).to(torch::kBFloat16), up = torch::randn({n}, cuda).to(torch::kBFloat16);
  auto wy = torch::randn({n}, cuda);
  auto gk = gate.clone().requires_grad_(true), uk = up.clone().requires_grad_(true);
  auto yk = swiglu(gk, uk);
  (yk.to(torch::kFloat32) * wy).sum().backward();
  auto gr = gate.to(torch::kFloat32).requires_grad_(true), ur = up.to(torch::kFloat32).requires_grad_(true);
  auto yr = swiglu_reference(gr, ur);
  (yr * wy).sum().backward();
  char id[64];
  std::snprintf(id, sizeof id, "swiglu n%lld", (long long)n);
  report(id, {check("y", yk, yr, kBoundForward), check("dgate", gk.grad(), gr.grad(), kBoundGrad),
              check("dup", uk.grad(), ur.grad(), kBoundGrad)},
         max_rel_error(yr.detach().to(torch::kBFloat16), yr.detach()));
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
      // One long sequence with few heads: SSD runs it in segments side by side
      // (mixers/mamba2/segmented.cpp; so does T 4113 above, with 2 heads), GDN in one walk.
      if (D == 128) cases.push_back({op, 1, 32768, 16, D, true, false});
      for (const auto& c : cases) guarded("chunked", [&] { run_chunk_case(c, ++s); });
    }
  for (auto op : {LinearOp::GatedDeltaNet, LinearOp::Mamba2})
    for (int64_t D : {64, 128})
      for (int64_t B : {1, 5})
        for (auto dt : {torch::kBFloat16, torch::kFloat32})
          guarded("step", [&] { run_step_case({op, B, 3, D, dt}, ++s); });
  for (auto op : {LinearOp::GatedDeltaNet, LinearOp::Mamba2})
    for (int64_t D : {64, 128}) guarded("prefill+decode", [&] { run_prefill_decode(op, D, ++s); });
  for (auto [B, T, C, W] : std::vector<std::array<int64_t, 4>>{
           {2, 1, 64, 4}, {2, 63, 130, 4}, {3, 65, 1000, 4}, {1, 4113, 256, 3}, {8, 2048, 1024, 4}, {2, 100, 96, 2},
           {2, 37, 75, 4}, {1, 66, 2, 3}})  // odd C: one channel a thread
    for (bool silu : {false, true}) guarded("short_conv", [&] { run_short_conv_case(B, T, C, W, silu, ++s); });
  for (auto [B, C, W] : std::vector<std::array<int64_t, 3>>{{1, 64, 4}, {3, 1000, 4}, {64, 896, 4}, {2, 130, 2}, {5, 96, 3}})
    for (bool silu : {false, true}) guarded("short_conv step", [&] { run_short_conv_step_case(B, C, W, silu, ++s); });
  for (auto dt : {torch::kFloat32, torch::kBFloat16})
    for (auto [rows, D] : std::vector<std::array<int64_t, 2>>{{7, 64}, {300, 1024}, {33, 130}})
      guarded("norms", [&] { run_norm_case(rows, D, dt, ++s); });
  for (int64_t K : {64, 128})
    for (auto [B, T, H, offset] : std::vector<std::array<int64_t, 4>>{{2, 1, 3, 0}, {2, 65, 5, 0}, {1, 300, 16, 32000}, {3, 700, 7, 5}})
      for (bool norm : {true, false}) guarded("norm_rope", [&] { run_norm_rope_case(B, T, H, K, offset, norm, ++s); });
  for (int64_t V : {64, 128})
    for (auto [rows, H] : std::vector<std::array<int64_t, 2>>{{1, 1}, {77, 3}, {4096, 16}})
      guarded("gated_norm", [&] { run_gated_norm_case(rows, H, V, ++s); });
  for (auto [rows, D] : std::vector<std::array<int64_t, 2>>{{1, 64}, {37, 640}, {16384 + 5, 896}, {300, 1024}, {65, 192}})
    for (bool with_delta : {true, false}) guarded("add_norm", [&] { run_add_norm_case(rows, D, with_delta, ++s); });
  for (int64_t n : {1, 7, 8 * 2816, 16384 * 2816 + 3})
    guarded("swiglu", [&] { run_swiglu_case(n, ++s); });
  for (auto [N, D, V, chunk] : std::vector<std::array<int64_t, 4>>{{1000, 64, 32000, 300}, {37, 96, 1001, 8}})
    guarded("head_loss", [&] { run_head_loss_case(N, D, V, chunk, ++s); });
  run_model_cases(s);
  run_decode_cases(s);
  run_train_cases(s);
  std::printf("oryx_gpu_tests: %s (%d failing case%s)\n", g_failures ? "FAIL" : "PASS", g_failures,
              g_failures == 1 ? "" : "s");
  return g_failures ? 1 : 0;
}
