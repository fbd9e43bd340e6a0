"""`oryx export --hf` against transformers: the folder loads with AutoConfig,
AutoModelForCausalLM (trust_remote_code) and AutoTokenizer; the loaded model's logits equal
the package's on the oryx checkpoint exactly; the tokenizer encodes text to the byte ids oryx
uses (and a SentencePiece checkpoint's tokenizer to the ids `oryx generate --prompt` reports);
a non-empty output folder is refused without --overwrite.

Run by the C++ test suite (tests/CMakeLists.txt) with ORYX_CLI and PYTHONPATH set."""
import json
import os
import shutil
import subprocess
import tempfile
import unittest

import torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

from oryx_lm import OryxForCausalLM

CLI = os.environ.get("ORYX_CLI", "build/oryx")
SOURCE = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def oryx(*args, check=True):
    r = subprocess.run([CLI, *args], capture_output=True, text=True)
    if check and r.returncode != 0:
        raise RuntimeError(f"oryx {' '.join(args)} failed ({r.returncode}): {r.stderr[-2000:]}")
    return r


class Export(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="oryx-py-export-")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def train(self, config, data, name):
        out = os.path.join(self.dir, name)
        oryx("train", "--config", os.path.join(SOURCE, "configs", config + ".json"), "--data", data, "--out", out,
             "--tokens", "1024", "--batch-size", "4", "--seq-len", "64", "--eval-windows", "1", "--threads", "1",
             "--device", "cpu")
        return os.path.join(out, "final")

    def test_byte_checkpoint_loads_with_auto_classes(self):
        data = os.path.join(self.dir, "byte-data")
        oryx("prepare", "--synthetic", "100", "--tokenizer", "byte", "--out", data)
        ckpt = self.train("oryx-mamba2-tiny", data, "byte-run")
        hf = os.path.join(self.dir, "byte-hf")
        oryx("export", "--checkpoint", ckpt, "--hf", hf)
        config = AutoConfig.from_pretrained(hf, trust_remote_code=True)
        self.assertEqual(config.model_type, "oryx")
        self.assertEqual(config.linear, "mamba2")
        model = AutoModelForCausalLM.from_pretrained(hf, trust_remote_code=True).eval()
        ours = OryxForCausalLM.from_oryx_checkpoint(ckpt)
        tok = AutoTokenizer.from_pretrained(hf, trust_remote_code=True)
        text = "Oryx héllo\n"
        ids = tok(text)["input_ids"]
        self.assertEqual(ids, list(text.encode("utf-8")))
        self.assertEqual(tok.decode(ids), text)
        self.assertEqual(tok.eos_token_id, 256)
        x = torch.tensor([ids])
        with torch.no_grad():
            for schedule in ["all-A", "all-L", "last:4"]:
                self.assertTrue(torch.equal(model(x, schedule=schedule).logits, ours(x, schedule=schedule).logits),
                                schedule)
        # A non-empty folder is kept unless --overwrite says otherwise.
        r = oryx("export", "--checkpoint", ckpt, "--hf", hf, check=False)
        self.assertEqual(r.returncode, 2)
        self.assertIn("--overwrite", r.stderr)
        oryx("export", "--checkpoint", ckpt, "--hf", hf, "--overwrite")

    def test_sentencepiece_tokenizer_encodes_as_oryx_does(self):
        try:
            import sentencepiece  # noqa: F401  (LlamaTokenizer needs it)
        except ImportError:
            self.skipTest("sentencepiece is not installed: the SentencePiece export is not checked")
        # transformers' SentencePieceBackend loads the exported tokenizer.model.
        corpus = os.path.join(self.dir, "corpus.txt")
        with open(corpus, "w") as f:
            f.write(("Oryx switches between attention and recurrence. Numbers 12345 and café.\n") * 200)
        data = os.path.join(self.dir, "sp-data")
        oryx("prepare", corpus, "--train-tokenizer", "--vocab-size", "300", "--out", data)
        ckpt = self.train("transformer-tiny", data, "sp-run")
        hf = os.path.join(self.dir, "sp-hf")
        oryx("export", "--checkpoint", ckpt, "--hf", hf)
        tok = AutoTokenizer.from_pretrained(hf, trust_remote_code=True)
        text = "Oryx switches 2024 café attention."
        out = json.loads(oryx("generate", "--checkpoint", ckpt, "--prompt", text, "--max-new", "0", "--device", "cpu",
                              "--json").stdout)
        self.assertEqual(tok(text)["input_ids"], out["prompt_tokens"])
        # Text back from ids, byte-fallback pieces (the newline, "0", "ü" are not in this
        # vocabulary) and a leading space included, as sentencepiece itself decodes it.
        for s in [text, " 2024 attention\nand über", "café\n\n0"]:
            self.assertEqual(tok.decode(tok(s)["input_ids"]), s)


if __name__ == "__main__":
    torch.set_num_threads(1)
    unittest.main(verbosity=2)
