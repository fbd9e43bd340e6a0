#!/usr/bin/env python3
"""Turns the files of `runs/gpu-generate-bench.sh` device runs into the committed results:
docs/perf/generate-<device>.json (one record per model, schedule, batch and context, with the
peer's figures from the same device call) and a markdown table with the issue's targets on
stdout.
  runs/perf-generate-report.py RUN_DIR COMMIT DEVICE"""
import json, re, sys

run, commit, device = sys.argv[1:4]
peer = open(f"{run}/peer.txt").read()
peer_prefill = float(re.search(r"prefill_ms=([\d.]+)", peer).group(1))
peer_decode = float(re.search(r"decode_ms_per_step=([\d.]+)", peer).group(1))
peer_mem = float(re.search(r"hf_llama_generate_peak_mem_gb=([\d.]+)", peer).group(1))
rows = []
for line in open(f"{run}/generate.jsonl"):
    for r in json.loads(line)["rows"]:
        r.update(commit=commit, device_name=device, peer="hf_llama_374m_generate_batch1_prompt1792_new256",
                 peer_prefill_ms=peer_prefill, peer_decode_ms_per_token=peer_decode, peer_peak_mem_gb=peer_mem)
        rows.append(r)
json.dump(rows, open(f"docs/perf/generate-{device}.json", "w"), indent=1)


def target(r):
    mode_l = r["schedule"] != "all-A"
    if r["batch"] == 1 and mode_l:
        return f"{r['decode_ms_per_token'] / 0.5:.2f}x the 0.5 ms target"
    if r["batch"] == 1 and r["context"] == 8192:
        return f"{r['decode_ms_per_token'] / 1.0:.2f}x the 1.0 ms target"
    if r["batch"] == 64 and mode_l:
        return f"{r['decode_tokens_per_s'] / 40000:.2f}x the 40k tokens/s target"
    return ""


print("| model | schedule | batch | context | prefill ms | decode ms/step | decode tokens/s | peak GB | vs target |")
print("|---|---|---|---|---|---|---|---|---|")
for r in rows:
    if r["out_of_memory"]:
        print(f"| {r['model']} | {r['schedule']} | {r['batch']} | {r['context']} | out of memory | | | | |")
        continue
    print(f"| {r['model']} | {r['schedule']} | {r['batch']} | {r['context']} | {r['prefill_ms']:.1f} | "
          f"{r['decode_ms_per_token']:.3f} | {r['decode_tokens_per_s']:,.0f} | {r['peak_mem_gb']:.1f} | {target(r)} |")
print(f"| HF Llama 374M `generate` (peer, same call) | all-A | 1 | 1792 | {peer_prefill:.1f} | {peer_decode:.2f} | "
      f"{1000 / peer_decode:,.0f} | {peer_mem:.1f} | |")
