"""lm-evaluation-harness on an exported model: HFLM (the harness's `--model hf`) loads
`oryx export --hf` output with trust_remote_code, and its log-likelihoods of a few requests
equal `oryx eval --task mc --no-eod --request-scores` on the same requests (the harness feeds
context + continuation without a document-start token, hence --no-eod), under the model's
default schedule and under one passed as a from_pretrained argument (model_args schedule=...);
and its greedy generate_until text is the model's generate() output cut at the stop string,
the same with prompts of different lengths in one batch (left-padded) as one at a time.

Skipped, saying so, when lm_eval is not installed. Run by the C++ test suite."""
import json
import os
import shutil
import subprocess
import tempfile
import unittest

import torch

CLI = os.environ.get("ORYX_CLI", "build/oryx")
SOURCE = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REQUESTS = [  # (doc_id, idx, label, context, continuation)
    (0, 0, 1, "Question: What does an Oryx model switch between?\nAnswer:", " tables"),
    (0, 1, 1, "Question: What does an Oryx model switch between?\nAnswer:", " attention and recurrence"),
    (1, 0, 0, "The cache holds", " keys and values"),
    (1, 1, 0, "The cache holds", " nothing at all"),
]

try:
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM
except ImportError as e:  # pragma: no cover - depends on the machine
    HFLM = None
    IMPORT_ERROR = str(e)


def oryx(*args):
    r = subprocess.run([CLI, *args], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"oryx {' '.join(args)} failed ({r.returncode}): {r.stderr[-2000:]}")
    return r.stdout


@unittest.skipIf(HFLM is None, "lm_eval is not installed (pip install lm_eval): the harness test is skipped")
class Harness(unittest.TestCase):
    def test_loglikelihoods_equal_oryx_mc_scores(self):
        d = tempfile.mkdtemp(prefix="oryx-py-lm-eval-")
        try:
            data = os.path.join(d, "data")
            oryx("prepare", "--synthetic", "100", "--tokenizer", "byte", "--out", data)
            oryx("train", "--config", os.path.join(SOURCE, "configs", "oryx-gdn-tiny.json"), "--data", data, "--out",
                 os.path.join(d, "run"), "--tokens", "1024", "--batch-size", "4", "--seq-len", "64",
                 "--eval-windows", "1", "--threads", "1", "--device", "cpu")
            ckpt, hf = os.path.join(d, "run", "final"), os.path.join(d, "hf")
            oryx("export", "--checkpoint", ckpt, "--hf", hf)
            task = os.path.join(d, "task.jsonl")
            with open(task, "w") as f:
                for doc_id, idx, label, ctx, cont in REQUESTS:
                    f.write(json.dumps({"doc_id": doc_id, "idx": idx, "label": label,
                                        "request": {"context": ctx, "continuation": cont}}) + "\n")
            for schedule in ["all-A", "every:2:8"]:
                scores = os.path.join(d, f"scores-{schedule.replace(':', '_')}.jsonl")
                oryx("eval", "--checkpoint", ckpt, "--task", "mc", "--data", task, "--no-eod", "--device", "cpu",
                     "--schedules", schedule, "--request-scores", scores, "--json")
                ours = {}
                with open(scores) as f:
                    for line in f:
                        r = json.loads(line)
                        ours[(r["doc_id"], r["idx"])] = r["log_likelihood"]
                kwargs = {} if schedule == "all-A" else {"schedule": schedule}  # all-A: the default
                lm = HFLM(pretrained=hf, trust_remote_code=True, device="cpu", batch_size=1, **kwargs)
                got = lm.loglikelihood([Instance(request_type="loglikelihood", doc={}, arguments=(ctx, cont), idx=i)
                                        for i, (_, _, _, ctx, cont) in enumerate(REQUESTS)])
                for (doc_id, idx, _, _, _), (ll, _) in zip(REQUESTS, got):
                    self.assertAlmostEqual(ll, ours[(doc_id, idx)], delta=1e-4, msg=f"{schedule} doc {doc_id} {idx}")
                # Generation tasks: the harness's greedy text is the model's own generate(),
                # which uses the cache, cut at the stop string.
                ctx = REQUESTS[0][3]
                text = lm.generate_until([Instance(request_type="generate_until", doc={},
                                                   arguments=(ctx, {"until": ["\n"], "max_gen_toks": 12}), idx=0)])[0]
                ids = lm.tokenizer(ctx)["input_ids"]
                ours_ids = lm.model.generate(torch.tensor([ids]), max_new_tokens=12)[0, len(ids):].tolist()
                self.assertEqual(text, lm.tokenizer.decode(ours_ids).split("\n")[0], schedule)
            # Batched generation: the harness left-pads prompts of different lengths; each text
            # equals the one batch_size=1 gives.
            contexts = [r[3] for r in REQUESTS[::2]] + ["A"]
            gen = [Instance(request_type="generate_until", doc={}, idx=i,
                            arguments=(c, {"until": ["\n"], "max_gen_toks": 12})) for i, c in enumerate(contexts)]
            one = HFLM(pretrained=hf, trust_remote_code=True, device="cpu", batch_size=1).generate_until(gen)
            batched = HFLM(pretrained=hf, trust_remote_code=True, device="cpu", batch_size=3).generate_until(gen)
            self.assertEqual(batched, one)
        finally:
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    torch.set_num_threads(1)
    unittest.main(verbosity=2)
