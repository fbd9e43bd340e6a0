#!/usr/bin/env python3
"""Turns the files of one `runs/gpu-train-bench.sh` device run into the committed results:
docs/perf/train-<device>.json (one record per model and schedule, with the peer's figures
from the same run) and a markdown table with the issue's targets on stdout.
  runs/perf-train-report.py RUN_DIR BASE_COMMIT DEVICE [--breakdown OUT.json]
--breakdown writes the per-group kernel times of each profiled step (and its 25 largest
kernels) to OUT.json."""
import json, re, sys

run, commit, device = sys.argv[1:4]
rows = [json.loads(l) for l in open(f"{run}/train.jsonl")]
peer = open(f"{run}/peer.txt").read()
peer_tps = float(re.search(r"tokens_per_s=([\d,]+)", peer).group(1).replace(",", ""))
peer_ms = float(re.search(r"step_ms=([\d.]+)", peer).group(1))
peer_mem = float(re.search(r"hf_llama_peak_mem_gb=([\d.]+)", peer).group(1))
for r in rows:
    r.update(commit=commit, device_name=device, peer="hf_llama_374m_sdpa_eager_fused_adamw",
             peer_tokens_per_s=peer_tps, peer_step_ms=peer_ms, peer_peak_mem_gb=peer_mem)
json.dump(rows, open(f"docs/perf/train-{device}.json", "w"), indent=1)

by = {(r["name"], r["schedule"].split(",")[0].split(" ")[0]): r for r in rows}
tr = by[("transformer-350m", "all-A")]
def ratio_note(r):
    n, s = r["name"], r["schedule"].split(",")[0].split(" ")[0]
    if n == "transformer-350m":
        return f"{r['tokens_per_s'] / peer_tps:.2f}x peer (target 2.0x)"
    if s == "all-L":
        return f"{r['tokens_per_s'] / tr['tokens_per_s']:.2f}x transformer (target 1.0x)"
    if s == "sampler":
        return f"{r['tokens_per_s'] / tr['tokens_per_s']:.2f}x transformer (target 0.85x)"
    base = by[(n.replace("oryx-", ""), "all-L")]
    return f"{r['step_ms'] / base['step_ms']:.2f}x {base['name']} step (target 1.15x)"
print("| model | schedule | attention | step ms | tokens/s | MFU | peak GB | vs target |")
print("|---|---|---|---|---|---|---|---|")
for r in rows:
    print(f"| {r['name']} | {r['schedule'].split(' (')[0].split(',gen')[0]} | {100 * r['attention_fraction']:.0f}% | "
          f"{r['step_ms']:.1f} | {r['tokens_per_s']:,.0f} | {100 * r['mfu']:.1f}% | {r['peak_mem_gb']:.1f} | {ratio_note(r)} |")
print(f"| HF Llama 374M (peer, same run) | all-A | 100% | {peer_ms:.1f} | {peer_tps:,.0f} | 23.2% | {peer_mem:.1f} | |")

if "--breakdown" in sys.argv:
    out = []
    for l in open(f"{run}/profiles.jsonl"):
        r = json.loads(l)
        p = r["profile"]
        out.append({"name": r["name"], "schedule": r["schedule"], "step_ms_profiled": p["step_ms"],
                    "kernel_ms": p["kernel_ms"], "kernels": p["kernels"], "by_group_ms": p["by_group_ms"],
                    "top_kernels": p["by_kernel"][:25], "commit": commit, "device_name": device})
    json.dump(out, open(sys.argv[sys.argv.index("--breakdown") + 1], "w"), indent=1)
