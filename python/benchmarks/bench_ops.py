"""Times our kernels through their torch operators (oryx_lm.ops) beside fla's Triton ops, from
Python, in one process on one GPU: chunked GDN (fla chunk_gated_delta_rule), chunked SSD
(fla chunk_simple_gla, the same recurrence without the delta rule), forward and
forward+backward, and the decoding step (fla fused_recurrent_gated_delta_rule, one token).

    python python/benchmarks/bench_ops.py [--json OUT.json]

Needs ORYX_OPS_LIBRARY (or the library in the package folder) and fla on PYTHONPATH. Timing:
CUDA events around each call, 10 warm-up calls, median of 50. fla's gated backward refuses
Triton < 3.7.1 on Hopper (its issue #640); the guard is lifted here for timing only, as in
../shared/peers/bench_anchors.py: its figures are speed, not correctness."""
import argparse
import json
import math
import os
import statistics
import subprocess

import torch
import torch.nn.functional as F

from oryx_lm import ops

SHAPES = [(8, 2048, 16, 128), (4, 4096, 16, 128), (2, 8192, 16, 128), (1, 32768, 16, 128), (8, 2048, 32, 64)]
DECODE = [(1, 16, 128), (16, 16, 128), (64, 16, 128)]


def time_ms(fn, warmup=10, repeats=50):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def fwd_bwd(f, leaves):
    def run():
        for t in leaves:
            t.grad = None
        o = f()
        o = o[0] if isinstance(o, tuple) else o
        o.backward(torch.ones_like(o))
    return run


def load_fla():
    try:
        from fla.ops.gated_delta_rule import chunk_gated_delta_rule, fused_recurrent_gated_delta_rule
        from fla.ops.simple_gla import chunk_simple_gla
        import fla.ops.common.chunk_o as chunk_o
        chunk_o.TRITON_ABOVE_3_7_1 = True
        return chunk_gated_delta_rule, fused_recurrent_gated_delta_rule, chunk_simple_gla
    except Exception as e:  # reported, and the rows keep our figures only
        print("fla unavailable:", repr(e))
        return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", help="write the records here")
    args = ap.parse_args()
    assert ops.load_library(), "liboryx_ops.so not found (set ORYX_OPS_LIBRARY)"
    fla = load_fla()
    dev, bf = "cuda", torch.bfloat16
    records = []

    def row(op, shape, ours, peer, peer_name):
        ratio = ours / peer if peer else None
        records.append(dict(op=op, shape=shape, ours_ms=round(ours, 4), peer=peer_name,
                            peer_ms=round(peer, 4) if peer else None, ratio=round(ratio, 3) if ratio else None))
        print(f"{op:<14} {shape:<22} ours {ours:8.4f} ms   {peer_name} "
              + (f"{peer:8.4f} ms   ours/peer {ratio:5.2f}x" if peer else "-"), flush=True)

    for (B, T, H, D) in SHAPES:
        shape = f"{B},{T},{H},{D}"
        torch.manual_seed(0)
        q = torch.randn(B, T, H, D, device=dev, dtype=bf, requires_grad=True)
        k = F.normalize(torch.randn(B, T, H, D, device=dev), dim=-1).to(bf).requires_grad_(True)
        v = torch.randn(B, T, H, D, device=dev, dtype=bf, requires_grad=True)
        g = F.logsigmoid(torch.randn(B, T, H, device=dev)).requires_grad_(True)
        beta = torch.rand(B, T, H, device=dev).sigmoid().to(bf).requires_grad_(True)
        leaves, scale = [q, k, v, g, beta], 1.0 / math.sqrt(D)
        for mixer in ("gdn", "mamba2"):
            ours = lambda: ops.chunk_linear(mixer, q, k, v, g, beta, None, scale if mixer == "gdn" else 1.0)
            with torch.no_grad():
                f_ours = time_ms(ours)
            fb_ours = time_ms(fwd_bwd(ours, leaves))
            f_peer = fb_peer = None
            if fla:
                chunk_gdn, _, chunk_sgla = fla
                peer = ((lambda: chunk_gdn(q, k, v, g, beta, scale=scale)) if mixer == "gdn"
                        else (lambda: chunk_sgla(q, k, v, g, scale=1.0)))
                with torch.no_grad():
                    f_peer = time_ms(peer)
                fb_peer = time_ms(fwd_bwd(peer, leaves))
            name = "fla chunk_gated_delta_rule" if mixer == "gdn" else "fla chunk_simple_gla"
            row(f"{mixer} fwd", shape, f_ours, f_peer, name)
            row(f"{mixer} fwd+bwd", shape, fb_ours, fb_peer, name)
        del q, k, v, g, beta, leaves
        torch.cuda.empty_cache()

    for (B, H, D) in DECODE:
        shape = f"decode {B},{H},{D}"
        q = torch.randn(B, H, D, device=dev, dtype=bf)
        k = F.normalize(torch.randn(B, H, D, device=dev), dim=-1).to(bf)
        v = torch.randn(B, H, D, device=dev, dtype=bf)
        g = F.logsigmoid(torch.randn(B, H, device=dev))
        beta = torch.rand(B, H, device=dev)
        state = torch.randn(B, H, D, D, device=dev)
        with torch.no_grad():
            ours = time_ms(lambda: ops.linear_step("gdn", q, k, v, g, beta, state, 1.0 / math.sqrt(D)))
            peer = None
            if fla:
                fused = fla[1]
                peer = time_ms(lambda: fused(q[:, None], k[:, None], v[:, None], g=g[:, None], beta=beta[:, None].to(bf),
                                             initial_state=state, output_final_state=True))
        row("gdn step", shape, ours, peer, "fla fused_recurrent_gated_delta_rule")

    if args.json:
        commit = os.environ.get("ORYX_COMMIT") or subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
        with open(args.json, "w") as f:
            json.dump(dict(device=torch.cuda.get_device_name(), torch=torch.__version__, commit=commit or None,
                           timing="CUDA events, 10 warm-up calls, median of 50", records=records), f, indent=1)


if __name__ == "__main__":
    main()
