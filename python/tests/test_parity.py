"""The Python package against the C++ CLI, on tiny checkpoints trained here by `oryx train`
(all five model kinds): per-token losses of `oryx eval --task ppl --token-losses` equal the
package's forward under all-A, all-L and mixed schedules (fp32, |diff| < 2e-5 nats), and greedy
generation with the cache equals `oryx generate --temperature 0` token for token, also for
prompts of different lengths in one left-padded batch.

Run by the C++ test suite (tests/CMakeLists.txt) as python3 python/tests/test_parity.py, with
ORYX_CLI naming the built binary and PYTHONPATH holding python/."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

import torch

from oryx_lm import OryxForCausalLM

CLI = os.environ.get("ORYX_CLI", "build/oryx")
SOURCE = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NLL_TOLERANCE = 2e-5
BYTE_VOCAB = 257  # the byte tokenizer's ids: 256 bytes and the end-of-document id
TEXT = ("Oryx switches its token mixer along the sequence, between softmax attention and a "
        "linear recurrence, with one KV cache and one recurrent state that every token updates. ") * 3
# Schedules per kind: a baseline has only its own mode.
SCHEDULES = {"oryx": ["all-A", "all-L", "every:2:16", "last:20"], "transformer": ["all-A"], "linear": ["all-L"]}
GEN_SCHEDULES = {"oryx": ["all-A", "all-L", "last:3,gen=L", "every:2:4,gen=A"], "transformer": ["all-A"],
                 "linear": ["all-L"]}


def oryx(*args):
    r = subprocess.run([CLI, *args], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"oryx {' '.join(args)} failed ({r.returncode}): {r.stderr[-2000:]}")
    return r.stdout


class Parity(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="oryx-py-parity-")
        cls.data = os.path.join(cls.dir, "data")
        oryx("prepare", "--synthetic", "200", "--tokenizer", "byte", "--out", cls.data)
        cls.text = os.path.join(cls.dir, "text.txt")
        with open(cls.text, "w") as f:
            f.write(TEXT)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def trained(self, config):
        out = os.path.join(self.dir, config)
        if not os.path.isdir(os.path.join(out, "final")):
            oryx("train", "--config", os.path.join(SOURCE, "configs", config + ".json"), "--data", self.data,
                 "--out", out, "--tokens", "2048", "--batch-size", "4", "--seq-len", "64", "--lr", "3e-3",
                 "--eval-windows", "1", "--threads", "1", "--device", "cpu")
        return os.path.join(out, "final")

    def check_losses(self, config):
        ckpt = self.trained(config)
        model = OryxForCausalLM.from_oryx_checkpoint(ckpt)
        dump = os.path.join(self.dir, config + "-losses.jsonl")
        schedules = SCHEDULES[model.config.kind]
        oryx("eval", "--checkpoint", ckpt, "--task", "ppl", "--data", self.text, "--seq-len", "64", "--device", "cpu",
             "--schedules", ";".join(schedules), "--token-losses", dump, "--json")
        seen = set()
        with open(dump) as f:
            for line in f:
                r = json.loads(line)
                seen.add(r["schedule"])
                x, y = torch.tensor([r["inputs"]]), torch.tensor(r["targets"])
                with torch.no_grad():
                    logits = model(x, modes=torch.tensor(r["modes"], dtype=torch.bool)).logits[0]
                nll = torch.nn.functional.cross_entropy(logits, y, ignore_index=-100, reduction="none").double()
                diff = (nll - torch.tensor(r["nll"], dtype=torch.float64)).abs().max().item()
                self.assertLess(diff, NLL_TOLERANCE, f"{config} {r['schedule']} window {r['window']}")
        self.assertEqual(len(seen), len(schedules))

    def check_generation(self, config):
        ckpt = self.trained(config)
        model = OryxForCausalLM.from_oryx_checkpoint(ckpt)
        prompt = [ord(ch) for ch in "Oryx switches its mixer"]
        for schedule in GEN_SCHEDULES[model.config.kind]:
            out = json.loads(oryx("generate", "--checkpoint", ckpt, "--tokens", ",".join(map(str, prompt)),
                                  "--schedule", schedule, "--max-new", "16", "--temperature", "0", "--device", "cpu",
                                  "--json"))
            ours = model.generate_greedy(torch.tensor([prompt]), 16, schedule, vocab_limit=BYTE_VOCAB)
            self.assertEqual(ours[0, len(prompt):].tolist(), out["tokens"], f"{config} {schedule}")

    def test_generate_left_padded_batch(self):
        """Prompts of different lengths in one left-padded batch (as lm-evaluation-harness and
        transformers' tokenizers give them) generate, row by row, exactly what each prompt
        generates alone; stopping criteria see the whole batch; right padding is refused."""
        model = OryxForCausalLM.from_oryx_checkpoint(self.trained("oryx-gdn-tiny"))
        prompts = [[ord(ch) for ch in p] for p in ["Oryx switches its mixer", "a short", "one KV cache and"]]
        t = max(map(len, prompts))
        ids = torch.tensor([[0] * (t - len(p)) + p for p in prompts])
        mask = torch.tensor([[0] * (t - len(p)) + [1] * len(p) for p in prompts])
        seen = []

        def criteria(seq, scores):
            seen.append(tuple(seq.shape))
            return torch.zeros(seq.shape[0], dtype=torch.bool)

        for schedule in ["last:3,gen=L", "every:2:4,gen=A"]:
            out = model.generate(ids, attention_mask=mask, max_new_tokens=12, schedule=schedule,
                                 vocab_limit=BYTE_VOCAB, stopping_criteria=criteria)
            self.assertEqual(out[:, :t].tolist(), ids.tolist())
            for r, p in enumerate(prompts):
                alone = model.generate_greedy(torch.tensor([p]), 12, schedule, vocab_limit=BYTE_VOCAB)
                self.assertEqual(out[r, t:].tolist(), alone[0, len(p):].tolist(), f"row {r} {schedule}")
        self.assertTrue(all(shape[0] == 3 for shape in seen))
        with self.assertRaises(ValueError):
            model.generate(ids, attention_mask=mask.flip(1), max_new_tokens=2)


def add_cases():
    for config in ["oryx-gdn-tiny", "oryx-mamba2-tiny", "transformer-tiny", "gdn-tiny", "mamba2-tiny"]:
        name = config.replace("-", "_")
        setattr(Parity, f"test_losses_{name}", lambda self, c=config: self.check_losses(c))
        setattr(Parity, f"test_generate_{name}", lambda self, c=config: self.check_generation(c))


add_cases()

if __name__ == "__main__":
    torch.set_num_threads(1)
    unittest.main(verbosity=2)
