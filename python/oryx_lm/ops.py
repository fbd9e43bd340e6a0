"""Our CUDA kernels as torch operators: the chunked Gated DeltaNet / Mamba-2 (SSD) forward and
backward, and the decoding step (liboryx_ops.so, built by the repository's CMake from
src/oryx/torch_ops/library.cpp).

The library is optional. `load_library()` looks for it at $ORYX_OPS_LIBRARY, then beside this
file (copy build/liboryx_ops.so into python/oryx_lm/ before `pip install ./python` to ship it);
once loaded, this module registers the operators' autograd formula and their fake-tensor
shapes, so that they run under torch.compile (fullgraph) like built-in operators.

    torch.ops.oryx.chunk_linear_fwd(mixer, q, k, v, g, beta, initial_state, scale, save)
    torch.ops.oryx.chunk_linear_bwd(mixer, q, k, v, g, beta, initial_state, saved, grad_o,
                                    grad_final_state, scale)
    torch.ops.oryx.linear_step(mixer, q, k, v, g, beta, state, scale)   # state updated in place

`chunk_linear` and `linear_step` below are the differentiable, documented entry points;
`kernels_usable` says whether a call takes the kernels (bf16 CUDA q/k/v with K = V in
{64, 128} on a Hopper GPU). OryxForCausalLM uses them there and stays in PyTorch elsewhere."""
import os
import pathlib
import warnings
from typing import Optional, Tuple

import torch

_CHUNK = 64  # the kernels' chunk length (src/oryx/kernels/linear_params.h, kChunk)
_library_path: Optional[str] = None


def load_library(path: Optional[str] = None) -> bool:
    """Loads liboryx_ops.so from `path`, $ORYX_OPS_LIBRARY or the package folder. Returns
    whether the operators are available; a path that was asked for and is missing raises."""
    global _library_path
    if _library_path is not None:
        return True
    asked = path or os.environ.get("ORYX_OPS_LIBRARY")
    if asked:
        if not os.path.isfile(asked):
            raise FileNotFoundError(f"oryx ops library not found: {asked}")
        torch.ops.load_library(asked)  # a library asked for and unloadable is an error
        candidate = asked
    else:
        candidate = str(pathlib.Path(__file__).with_name("liboryx_ops.so"))
        if not os.path.isfile(candidate):
            return False
        try:  # the optional copy beside the package: one built for another torch stays unused
            torch.ops.load_library(candidate)
        except (OSError, RuntimeError) as e:
            warnings.warn(f"oryx_lm: {candidate} does not load ({e}); using the PyTorch recurrences")
            return False
    _register_python_parts()
    _library_path = candidate
    return True


def library_path() -> Optional[str]:
    return _library_path


def kernels_usable(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> bool:
    """True when a chunked call with these inputs runs our CUDA kernels."""
    if _library_path is None or not q.is_cuda:
        return False
    if not torch._C._dispatch_has_kernel_for_dispatch_key("oryx::chunk_linear_fwd", "CUDA"):
        return False  # a library built without the CUDA kernels (ORYX_CUDA=OFF)
    if not (q.dtype == k.dtype == v.dtype == torch.bfloat16):
        return False
    if q.shape[-1] not in (64, 128) or v.shape[-1] != q.shape[-1]:
        return False
    return torch.cuda.get_device_capability(q.device)[0] == 9


def chunk_linear(mixer: str, q, k, v, g, beta, initial_state: Optional[torch.Tensor],
                 scale: float) -> Tuple[torch.Tensor, torch.Tensor]:
    """(o [B,T,H,V] in v's dtype, final state [B,H,K,V] fp32) through the operators, with
    gradients for q, k, v, g, beta and initial_state. mixer: "gdn" or "mamba2"."""
    save = torch.is_grad_enabled() and any(
        t is not None and t.requires_grad for t in (q, k, v, g, beta, initial_state))
    o, state, _ = torch.ops.oryx.chunk_linear_fwd(mixer, q, k, v, g, beta, initial_state, float(scale), save)
    return o, state


def linear_step(mixer: str, q, k, v, g, beta, state: torch.Tensor, scale: float) -> torch.Tensor:
    """One decoding token: q, k [B,H,K], v [B,H,V], g, beta [B,H]; `state` (fp32 [B,H,K,V],
    contiguous) is updated in place. Returns o [B,H,V]. Not differentiable."""
    return torch.ops.oryx.linear_step(mixer, q, k, v, g, beta, state, float(scale))


def _saved_like(mixer: str, q: torch.Tensor, v: torch.Tensor, save: bool):
    """The shapes of the CUDA forward's intermediates (kernels/linear_ops.h: G, F, P, A, W, E, h;
    an empty tensor where the mixer has none). The CPU forward saves nothing."""
    if not save or q.device.type != "cuda":
        return []
    b, t, h, kd = q.shape
    vd = v.shape[-1]
    if t == 0:
        return [q.new_empty(0) for _ in range(7)]
    n = (t + _CHUNK - 1) // _CHUNK  # integer arithmetic: t may be symbolic under torch.compile
    tp, gdn = n * _CHUNK, mixer == "gdn"
    f32, bf16 = dict(dtype=torch.float32), dict(dtype=torch.bfloat16)
    return [
        q.new_empty(b, h, tp, **f32),                                              # G
        q.new_empty(b, h, tp, 4, **f32),                                           # F
        q.new_empty(b, h, n, _CHUNK, _CHUNK, **bf16),                              # P
        q.new_empty(b, h, n, _CHUNK, _CHUNK, **bf16) if gdn else q.new_empty(0),   # A
        q.new_empty(b, h, tp, kd, **bf16) if gdn else q.new_empty(0),              # W
        q.new_empty(b, h, tp, vd, **bf16) if gdn else q.new_empty(0),              # E
        q.new_empty(b, h, n, kd, vd, **bf16),                                      # h
    ]


def _register_python_parts():
    ns = torch.ops.oryx
    if getattr(ns, "_oryx_lm_registered", False):  # a second copy of this module (remote code)
        return

    @torch.library.register_fake("oryx::chunk_linear_fwd")
    def _chunk_fwd_fake(mixer, q, k, v, g, beta, initial_state, scale, save):
        b, t, h, kd = q.shape
        state_dtype = torch.float64 if v.dtype == torch.float64 else torch.float32
        o = v.new_empty(b, t, h, v.shape[-1])
        state = v.new_empty(b, h, kd, v.shape[-1], dtype=state_dtype)
        return o, state, _saved_like(mixer, q, v, save)

    @torch.library.register_fake("oryx::chunk_linear_bwd")
    def _chunk_bwd_fake(mixer, q, k, v, g, beta, initial_state, saved, grad_o, grad_final_state, scale):
        b, t, h, kd = q.shape
        dh0 = q.new_empty(b, h, kd, v.shape[-1], dtype=torch.float32)
        return (torch.empty_like(q), torch.empty_like(k), torch.empty_like(v), torch.empty_like(g),
                torch.empty_like(beta), dh0)

    @torch.library.register_fake("oryx::linear_step")
    def _step_fake(mixer, q, k, v, g, beta, state, scale):
        return v.new_empty(v.shape)

    def setup_context(ctx, inputs, output):
        mixer, q, k, v, g, beta, initial_state, scale, save = inputs
        ctx.mixer, ctx.scale, ctx.has_initial_state = mixer, scale, initial_state is not None
        ctx.save_for_backward(q, k, v, g, beta, initial_state, *output[2])

    def backward(ctx, grad_o, grad_state, grad_saved):
        q, k, v, g, beta, initial_state, *saved = ctx.saved_tensors
        dq, dk, dv, dg, dbeta, dh0 = torch.ops.oryx.chunk_linear_bwd(
            ctx.mixer, q, k, v, g, beta, initial_state, saved, grad_o, grad_state, ctx.scale)
        return None, dq, dk, dv, dg, dbeta, (dh0 if ctx.has_initial_state else None), None, None

    torch.library.register_autograd("oryx::chunk_linear_fwd", backward, setup_context=setup_context)
    ns._oryx_lm_registered = True


load_library()  # when present; see the module's docstring
