"""Our kernels as torch operators (liboryx_ops.so, python/oryx_lm/ops.py) against the package's
PyTorch reference (recurrence.py).

On the CPU (CI) the operators run the C++ reference form: this checks the library, the
schemas, the autograd and fake-tensor registrations (torch.library.opcheck) and a
torch.compile(fullgraph=True) trace, forward and backward. On a Hopper GPU (run it on the device
machine: runs/gpu-torch-ops.sh) it also checks the CUDA kernels, in bf16 against the fp32
reference at awkward lengths, prints the max relative errors, and checks OryxForCausalLM's
kernel path against its PyTorch path.

Needs ORYX_OPS_LIBRARY (ctest sets it to the built library)."""
import math
import os
import sys

import torch
import torch.nn.functional as F

from oryx_lm import ops
from oryx_lm.recurrence import recurrence_reference

failures = []


def check(ok, what):
    print(("ok    " if ok else "FAIL  ") + what, flush=True)
    if not ok:
        failures.append(what)


def rel_err(a, b):
    """max |a - b| / max(max |b|, 1e-3): the error relative to the tensor's scale (an exactly
    zero reference, such as dg of a lone first token from a zero state, whose chunked form
    leaves float rounding of cancelling terms, is compared absolutely)."""
    a, b = a.detach().double(), b.detach().double()
    return ((a - b).abs().max() / b.abs().max().clamp_min(1e-3)).item()


def inputs(mixer, b, t, h, d, device, dtype, with_state, seed=0):
    gen = torch.Generator().manual_seed(seed)
    rnd = lambda *s: torch.randn(*s, generator=gen)
    q, k, v = rnd(b, t, h, d), rnd(b, t, h, d), rnd(b, t, h, d)
    if mixer == "gdn":
        q, k = F.normalize(q, dim=-1), F.normalize(k, dim=-1)
        beta = torch.sigmoid(rnd(b, t, h))
        g = F.logsigmoid(rnd(b, t, h) + 2.0)
    else:
        beta = F.softplus(rnd(b, t, h) - 1.0)            # dt
        g = -beta * torch.rand(h, generator=gen).add(0.5)
        q, k = q / math.sqrt(d), k / math.sqrt(d)
    state = rnd(b, h, d, d) * 0.1 if with_state else None
    cast = lambda x: x.to(device=device, dtype=dtype)
    return [cast(q), cast(k), cast(v), g.to(device), beta.to(device),
            state.to(device) if state is not None else None]


def reference(mixer, q, k, v, g, beta, state, scale):
    """fp32 PyTorch reference: the definition, token by token."""
    f = lambda x: x.float() if x is not None else None
    return recurrence_reference(f(q), f(k), f(v), f(g), f(beta), f(state), scale, delta=mixer == "gdn")


def grads_of(fn, tensors, seed=1):
    leaves = [t.detach().clone().requires_grad_(True) if t is not None else None for t in tensors]
    o, s = fn(*leaves)
    gen = torch.Generator().manual_seed(seed)
    w_o = torch.randn(o.shape, generator=gen).to(o.device)
    w_s = torch.randn(s.shape, generator=gen).to(s.device)
    ((o.float() * w_o).sum() + (s.float() * w_s).sum()).backward()
    return o, s, [x.grad if x is not None else None for x in leaves]


def compare_chunked(mixer, shape, device, dtype, with_state, tol):
    b, t, h, d = shape
    scale = 1.0 / math.sqrt(d) if mixer == "gdn" else 1.0
    x = inputs(mixer, b, t, h, d, device, dtype, with_state)
    o, s, dx = grads_of(lambda *a: ops.chunk_linear(mixer, *a, scale), x)
    o_r, s_r, dx_r = grads_of(lambda *a: reference(mixer, *a, scale), x)
    errs = {"o": rel_err(o, o_r), "state": rel_err(s, s_r)}
    for name, a, r in zip(["dq", "dk", "dv", "dg", "dbeta", "dh0"], dx, dx_r):
        if r is not None and t > 0:
            errs[name] = rel_err(a, r)
    worst = max(errs.values())
    what = (f"chunk {mixer} {device} {str(dtype)[6:]} B{b} T{t} H{h} D{d} state={with_state}: max rel err "
            + " ".join(f"{k} {v:.1e}" for k, v in errs.items()) + f" (tol {tol:g})")
    check(worst <= tol and o.dtype == x[2].dtype and s.dtype == torch.float32, what)


def compare_step(mixer, b, h, d, device, dtype, tol):
    scale = 1.0 / math.sqrt(d) if mixer == "gdn" else 1.0
    q, k, v, g, beta, state = inputs(mixer, b, 1, h, d, device, dtype, with_state=True, seed=3)
    o_r, s_r = reference(mixer, q, k, v, g, beta, state, scale)
    s = state.float().contiguous()
    o = ops.linear_step(mixer, q[:, 0], k[:, 0], v[:, 0], g[:, 0], beta[:, 0], s, scale)
    e_o, e_s = rel_err(o, o_r[:, 0]), rel_err(s, s_r)
    check(max(e_o, e_s) <= tol and o.dtype == dtype,
          f"step {mixer} {device} {str(dtype)[6:]} B{b} H{h} D{d}: max rel err o {e_o:.1e} state {e_s:.1e} (tol {tol:g})")


def check_registrations(device, dtype, shape):
    """torch.library.opcheck: schema, autograd registration, fake tensors, AOT dispatch."""
    b, t, h, d = shape
    for mixer in ("gdn", "mamba2"):
        q, k, v, g, beta, state = inputs(mixer, b, t, h, d, device, dtype, with_state=True)
        req = lambda x: x.detach().clone().requires_grad_(True)
        args = (mixer, req(q), req(k), req(v), req(g), req(beta), req(state), 0.5, True)
        try:
            torch.library.opcheck(torch.ops.oryx.chunk_linear_fwd.default, args)
            o, s, saved = torch.ops.oryx.chunk_linear_fwd(mixer, q, k, v, g, beta, state, 0.5, True)
            bwd_args = (mixer, q, k, v, g, beta, state, saved, torch.randn_like(o), torch.randn_like(s), 0.5)
            torch.library.opcheck(torch.ops.oryx.chunk_linear_bwd.default, bwd_args)
            step_args = (mixer, q[:, 0], k[:, 0], v[:, 0], g[:, 0], beta[:, 0], state.clone(), 0.5)
            torch.library.opcheck(torch.ops.oryx.linear_step.default, step_args)
            check(True, f"opcheck {mixer} {device} {str(dtype)[6:]}: chunk_linear_fwd, chunk_linear_bwd, linear_step")
        except Exception as e:  # opcheck raises OpCheckError naming the failing test
            check(False, f"opcheck {mixer} {device}: {str(e).splitlines()[0]}")


def check_compile(device, dtype, backend):
    """A function around the operator under torch.compile(fullgraph=True), forward and backward,
    equals the same function run eagerly."""
    b, t, h, d = 2, 70, 2, 64
    x = inputs("gdn", b, t, h, d, device, dtype, with_state=True)

    def f(q, k, v, g, beta, state):
        o, s = ops.chunk_linear("gdn", F.silu(q), k, v, g, beta, state, 0.125)
        return o * 2.0, s

    torch._dynamo.reset()
    compiled = torch.compile(f, fullgraph=True, backend=backend)
    o, s, dx = grads_of(f, x)
    oc, sc, dxc = grads_of(compiled, x)
    err = max([rel_err(oc, o), rel_err(sc, s)] + [rel_err(a, r) for a, r in zip(dxc, dx)])
    tol = 1e-5 if dtype == torch.float32 else 1e-2
    check(err <= tol, f"torch.compile(fullgraph, backend={backend}) {device}: forward + backward equal eager (max rel err {err:.1e}, tol {tol:g})")


def check_empty_sequence():
    """T = 0: the final state equals the initial one but is a tensor of its own (an operator's
    outputs never alias its inputs), and its gradient passes through."""
    q, k, v, g, beta, state = inputs("gdn", 2, 0, 2, 8, "cpu", torch.float32, with_state=True)
    o, s, _ = torch.ops.oryx.chunk_linear_fwd("gdn", q, k, v, g, beta, state, 1.0, False)
    check(o.shape == v.shape and torch.equal(s, state) and s.data_ptr() != state.data_ptr(),
          "an empty sequence returns a copy of the initial state")


def check_bad_input():
    q, k, v, g, beta, _ = inputs("gdn", 1, 5, 2, 8, "cpu", torch.float32, with_state=False)
    try:
        torch.ops.oryx.chunk_linear_fwd("rwkv", q, k, v, g, beta, None, 1.0, False)
        check(False, "an unknown mixer is refused")
    except RuntimeError as e:
        check("mixer must be" in str(e), f"an unknown mixer is refused: {str(e).splitlines()[0]}")
    try:
        torch.ops.oryx.chunk_linear_fwd("gdn", q, k, v[:, :4], g, beta, None, 1.0, False)
        check(False, "mismatched shapes are refused")
    except RuntimeError as e:
        check(True, f"mismatched shapes are refused: {str(e).splitlines()[0]}")


def check_saved_checked():
    """The CUDA backward refuses intermediates that are missing or from another call's shapes
    (its kernels would read them without bounds)."""
    q, k, v, g, beta, _ = inputs("gdn", 2, 70, 2, 64, "cuda", torch.bfloat16, with_state=False)
    o, s, saved = torch.ops.oryx.chunk_linear_fwd("gdn", q, k, v, g, beta, None, 0.125, True)
    # 70 tokens fill two chunks of 64; 40 tokens one, so its intermediates have other shapes.
    _, _, short = torch.ops.oryx.chunk_linear_fwd("gdn", q[:, :40], k[:, :40], v[:, :40], g[:, :40], beta[:, :40],
                                                  None, 0.125, True)
    _, _, ssd = torch.ops.oryx.chunk_linear_fwd("mamba2", q, k, v, g, beta, None, 1.0, True)
    for what, bad in [("none", []), ("another length's", short), ("the SSD forward's", ssd)]:
        try:
            torch.ops.oryx.chunk_linear_bwd("gdn", q, k, v, g, beta, None, bad, o, s, 0.125)
            check(False, f"chunk_linear_bwd refuses {what} intermediates")
        except RuntimeError as e:
            check("intermediate" in str(e) or "saved" in str(e),
                  f"chunk_linear_bwd refuses {what} intermediates: {str(e).splitlines()[0][:90]}")


def check_model_on_gpu():
    """OryxForCausalLM in bf16 with the kernels (chunked prefill, step decoding) against its
    PyTorch path (ORYX_FORCE_REFERENCE=1) on the same weights."""
    from oryx_lm import OryxConfig, OryxForCausalLM
    for linear in ("gdn", "mamba2"):
        cfg = OryxConfig(kind="oryx", linear=linear, vocab_size=512, d_model=256, n_layers=2, n_heads=2,
                         head_dim_k=128, head_dim_v=128, mlp_hidden=512, max_seq_len=1024, schedule="all-L")
        torch.manual_seed(0)
        model = OryxForCausalLM(cfg).to("cuda", torch.bfloat16).eval()
        ids = torch.randint(0, 512, (2, 200), device="cuda")
        with torch.no_grad():
            fast = model(ids).logits.float()
            os.environ["ORYX_FORCE_REFERENCE"] = "1"
            ref = model(ids).logits.float()
            del os.environ["ORYX_FORCE_REFERENCE"]
        e = rel_err(fast, ref)
        check(e <= 3e-2, f"OryxForCausalLM-{linear} bf16 logits, kernels vs PyTorch path: max rel err {e:.1e} (tol 3e-2)")
        out = model.generate(ids[:1, :50], max_new_tokens=16, do_sample=False, schedule="all-L")
        check(out.shape == (1, 66), f"OryxForCausalLM-{linear} generate through the step kernel: {out.shape[1] - 50} tokens")


def main():
    if not ops.load_library():
        print("liboryx_ops.so not found: set ORYX_OPS_LIBRARY to the built library (build/liboryx_ops.so)")
        return 1
    print("library:", ops.library_path())
    torch.manual_seed(0)
    # CPU: the C++ reference behind the operators (fp32), awkward lengths and head counts.
    for mixer in ("gdn", "mamba2"):
        for shape, with_state in [((2, 67, 3, 16), True), ((1, 1, 2, 8), False), ((2, 130, 1, 24), False)]:
            compare_chunked(mixer, shape, "cpu", torch.float32, with_state, tol=1e-4)
        compare_chunked(mixer, (2, 67, 3, 16), "cpu", torch.bfloat16, True, tol=3e-2)
        compare_step(mixer, 3, 2, 16, "cpu", torch.float32, tol=1e-5)
    check_registrations("cpu", torch.float32, (2, 9, 2, 8))
    check_compile("cpu", torch.float32, backend="aot_eager")
    check_bad_input()
    check_empty_sequence()

    hopper = torch.cuda.is_available() and torch.cuda.get_device_capability()[0] == 9
    if hopper:
        # The CUDA kernels in bf16 against the fp32 reference: errors are bf16 rounding of the
        # inputs and intermediates (the GPU tests of the C++ side use the same 3e-2 bound).
        for mixer in ("gdn", "mamba2"):
            for d in (64, 128):
                for t in (1, 63, 64, 65, 300):
                    compare_chunked(mixer, (2, t, 3, d), "cuda", torch.bfloat16, t != 64, tol=3e-2)
                compare_step(mixer, 5, 3, d, "cuda", torch.bfloat16, tol=1e-2)
                compare_step(mixer, 5, 3, d, "cuda", torch.float32, tol=1e-5)
        check_registrations("cuda", torch.bfloat16, (2, 70, 2, 64))
        check_compile("cuda", torch.bfloat16, backend="inductor")
        check_saved_checked()
        check_model_on_gpu()
    else:
        print("no Hopper GPU here: the CUDA kernels are checked on the device machine (runs/gpu-torch-ops.sh)")
    print(f"{'FAIL' if failures else 'PASS'} ({len(failures)} failing)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
