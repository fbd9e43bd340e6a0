"""Mode schedules, the grammar of the oryx command line (src/oryx/schedule/schedule.h).

  all-A | all-L | every:N[:C] | first:N | last:N | mask:AALL... | mask-file:PATH
  optionally followed by ,gen=A|L|schedule|last (the mode of generated tokens)

every:N[:C]: chunks of C tokens (default 64) by absolute position; chunk c is in mode A when
(c + 1) % N == 0. last:N: the last N prompt tokens are A. True = mode A (attention).
"""
from dataclasses import dataclass, field
from typing import List

import torch


@dataclass
class Schedule:
    kind: str = "all-A"          # all-A, all-L, every, first, last, mask
    n: int = 0
    chunk: int = 64
    mask: List[bool] = field(default_factory=list)
    gen: str = "schedule"        # A, L, schedule, last

    def _rule(self, pos: int, prompt_len: int) -> bool:
        if self.kind == "all-A":
            return True
        if self.kind == "all-L":
            return False
        if self.kind == "every":
            return (pos // self.chunk + 1) % self.n == 0
        if self.kind == "first":
            return pos < self.n
        if self.kind == "last":
            return pos >= prompt_len - self.n
        return self.mask[pos]

    def prompt_modes(self, length: int) -> torch.Tensor:
        """[length] bool, True = mode A."""
        if self.kind == "mask" and len(self.mask) != length:
            raise ValueError(f"schedule mask has {len(self.mask)} letters but the prompt has {length} tokens")
        return torch.tensor([self._rule(t, length) for t in range(length)], dtype=torch.bool)

    def generated_mode(self, pos: int, prompt_len: int) -> bool:
        """Mode of a generated token at absolute position pos (>= prompt_len)."""
        if self.gen == "A":
            return True
        if self.gen == "L":
            return False
        if self.gen == "last":
            return prompt_len > 0 and self._rule(prompt_len - 1, prompt_len)
        if self.kind == "last":
            return True
        if self.kind == "mask":
            return prompt_len > 0 and self.mask[prompt_len - 1]
        return self._rule(pos, prompt_len)


def _count(text: str, spec: str, what: str) -> int:
    if not text.isdigit():
        raise ValueError(f"schedule '{spec}': {what} must be a non-negative integer, got '{text}'")
    return int(text)


def _letters(text: str, spec: str) -> List[bool]:
    mask = []
    for ch in text:
        if ch.isspace():
            continue
        if ch not in "AL":
            raise ValueError(f"schedule '{spec[:40]}': a mask holds only the letters A and L, got '{ch}'")
        mask.append(ch == "A")
    if not mask:
        raise ValueError(f"schedule '{spec}': empty mask")
    return mask


def parse_schedule(spec: str) -> Schedule:
    """Parses the command-line syntax; raises ValueError naming the problem."""
    s = Schedule()
    body, gen_given = spec, False
    if ",gen=" in spec:
        body, g = spec.split(",gen=", 1)
        if g not in ("A", "L", "schedule", "last"):
            raise ValueError(f"schedule '{spec}': gen must be A, L, schedule or last, got '{g}'")
        s.gen, gen_given = g, True
    parts = body.split(":")
    head = parts[0]

    def want(lo: int, hi: int) -> None:
        if not lo + 1 <= len(parts) <= hi + 1:
            raise ValueError(f"schedule '{spec}': wrong number of ':' fields for '{head}'")

    if head in ("all-A", "all-L"):
        want(0, 0)
        s.kind = head
    elif head == "every":
        want(1, 2)
        s.kind, s.n = "every", _count(parts[1], spec, "N")
        if len(parts) == 3:
            s.chunk = _count(parts[2], spec, "chunk")
        if s.n < 1 or s.chunk < 1:
            raise ValueError(f"schedule '{spec}': N and chunk must be at least 1")
    elif head in ("first", "last"):
        want(1, 1)
        s.kind, s.n = head, _count(parts[1], spec, "N")
    elif head == "mask":
        if len(parts) != 2:
            raise ValueError(f"schedule '{spec}': expected mask:LETTERS")
        s.kind, s.mask = "mask", _letters(parts[1], spec)
        if not gen_given:
            s.gen = "last"
    elif head == "mask-file":
        with open(body[len("mask-file:"):]) as f:
            s.kind, s.mask = "mask", _letters(f.read(), spec)
        if not gen_given:
            s.gen = "last"
    else:
        raise ValueError(f"unknown schedule '{spec}' (expected all-A, all-L, every:N[:C], first:N, last:N, "
                         "mask:..., mask-file:PATH)")
    return s
