"""Oryx models in plain PyTorch: the reference forms of src/oryx (docs/checkpoint-format.md
states every formula), with parameter names equal to the checkpoint's tensor names.

A token's mode picks its mixer output: attention (A) or the linear recurrence (L, Gated
DeltaNet or Mamba-2). Every token writes its keys and values to the KV cache and updates the
recurrent state, whatever its mode, so a schedule can switch mode at any position.

The recurrences (recurrence.py) accumulate in fp32: chunked for sequences, the definition
token by token for decoding steps. Where our kernels' torch operators are loaded (ops.py) and
the call qualifies (bf16 on a Hopper GPU), the mixer runs them instead.
"""
import json
import math
import os
from dataclasses import dataclass, field
from typing import List, Optional, Union

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel
from transformers.modeling_outputs import CausalLMOutputWithPast

from .configuration_oryx import OryxConfig
from .ops import chunk_linear, kernels_usable, linear_step
from .recurrence import recurrence_chunked, recurrence_reference
from .schedule import Schedule, parse_schedule


def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    xf = x.float()
    return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps) * weight.float()).to(x.dtype)


def l2_normalize(x: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    xf = x.float()
    return (xf * torch.rsqrt(xf.pow(2).sum(-1, keepdim=True) + eps)).to(x.dtype)


def rope_apply(x: torch.Tensor, positions: torch.Tensor, theta: float) -> torch.Tensor:
    """x [B,T,H,K] at absolute positions [T]: rotates the halves (x1, x2) of each head."""
    k = x.shape[-1]
    half = k // 2
    inv_freq = torch.pow(theta, -torch.arange(0, half, dtype=torch.float32, device=x.device) * (2.0 / k))
    angles = positions.to(x.device).float().unsqueeze(-1) * inv_freq  # [T,K/2]
    cos, sin = angles.cos().unsqueeze(1), angles.sin().unsqueeze(1)   # [T,1,K/2]
    xf = x.float()
    x1, x2 = xf[..., :half], xf[..., half:]
    return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], -1).to(x.dtype)


def short_conv(x: torch.Tensor, weight: torch.Tensor, window: Optional[torch.Tensor]):
    """Causal depthwise convolution along time: y[t,c] = sum_j w[c,j] x[t-(W-1)+j, c], x before
    the first token taken from `window` ([B,W-1,C], the previous inputs) or zero. Returns y and
    the new window."""
    b, _, c = x.shape
    w = weight.shape[1]
    prev = window if window is not None else x.new_zeros(b, w - 1, c)
    xs = torch.cat([prev.to(x.dtype), x], 1)
    y = F.conv1d(xs.transpose(1, 2), weight.to(x.dtype).unsqueeze(1), groups=c).transpose(1, 2)
    return y, xs[:, xs.shape[1] - (w - 1):]


@dataclass
class LayerCache:
    k: Optional[torch.Tensor] = None       # [B,L,H,K] keys after QK-norm and RoPE
    v: Optional[torch.Tensor] = None       # [B,L,H,V]
    conv_k: Optional[torch.Tensor] = None  # [B,W-1,H*K] the short convolutions' last inputs
    conv_v: Optional[torch.Tensor] = None
    conv_q: Optional[torch.Tensor] = None
    state: Optional[torch.Tensor] = None   # [B,H,K,V] fp32 recurrent state


@dataclass
class OryxCache:
    """One KV cache and one recurrent state per layer; every token updates both."""
    layers: List[LayerCache] = field(default_factory=list)
    length: int = 0

    @classmethod
    def empty(cls, n_layers: int) -> "OryxCache":
        return cls([LayerCache() for _ in range(n_layers)], 0)


@dataclass
class _PromptGroup:
    """Rows of a generate() batch that decode together with one cache."""
    rows: slice           # the batch rows it holds
    prompt: torch.Tensor  # their prompts without padding
    length: int           # the prompt length: where the group's new tokens' positions start
    cache: OryxCache


class AttentionMixer(nn.Module):
    def __init__(self, c: OryxConfig):
        super().__init__()
        if not c.share_q:
            self.w_q = nn.Parameter(torch.empty(c.n_heads * c.head_dim_k, c.d_model))
        if c.qk_norm:
            self.q_norm = nn.Parameter(torch.ones(c.head_dim_k))
            self.k_norm = nn.Parameter(torch.ones(c.head_dim_k))
        if c.separate_out_norm:
            self.out_norm = nn.Parameter(torch.ones(c.head_dim_v))
        self.c = c

    def norm_rope(self, x, gain, positions):
        n = rms_norm(x, gain, self.c.norm_eps) if self.c.qk_norm else x
        return rope_apply(n, positions, self.c.rope_theta) if self.c.rope else n

    def forward(self, x, q_shared, k, v, positions, cache: Optional[LayerCache]):
        c = self.c
        b, t = x.shape[:2]
        ka = self.norm_rope(k, getattr(self, "k_norm", None), positions)
        k_all, v_all = ka, v
        if cache is not None:
            if cache.k is not None:
                k_all, v_all = torch.cat([cache.k, ka], 1), torch.cat([cache.v, v], 1)
            cache.k, cache.v = k_all, v_all
        q = q_shared if q_shared is not None else F.linear(x, self.w_q)
        q = self.norm_rope(q.view(b, t, c.n_heads, c.head_dim_k), getattr(self, "q_norm", None), positions)
        # Query at absolute position p attends keys 0..p (the cache's and this call's).
        keys = torch.arange(k_all.shape[1], device=x.device)
        mask = keys.unsqueeze(0) <= positions.to(x.device).unsqueeze(1)  # [T, L+T]
        o = F.scaled_dot_product_attention(q.transpose(1, 2), k_all.transpose(1, 2), v_all.transpose(1, 2),
                                           attn_mask=mask, scale=1.0 / math.sqrt(c.head_dim_k))
        return o.transpose(1, 2)


class LinearMixer(nn.Module):
    """Mode L: Gated DeltaNet or Mamba-2 (SSD), with k the SSM's B, v its X, q its C."""

    def __init__(self, c: OryxConfig):
        super().__init__()
        h, hk = c.n_heads, c.n_heads * c.head_dim_k
        if not c.share_q:
            self.w_q = nn.Parameter(torch.empty(hk, c.d_model))
        self.conv_q = nn.Parameter(torch.empty(hk, c.conv_kernel))
        if c.separate_out_norm:
            self.out_norm = nn.Parameter(torch.ones(c.head_dim_v))
        self.gdn = c.linear == "gdn"
        if self.gdn:
            self.w_a = nn.Parameter(torch.empty(h, c.d_model))
            self.w_b = nn.Parameter(torch.empty(h, c.d_model))
        else:
            self.w_dt = nn.Parameter(torch.empty(h, c.d_model))
            self.D = nn.Parameter(torch.ones(h))
        self.A_log = nn.Parameter(torch.zeros(h))
        self.dt_bias = nn.Parameter(torch.zeros(h))
        self.c = c

    def forward(self, x, q_shared, k, v, cache: Optional[LayerCache]):
        c = self.c
        b, t = x.shape[:2]
        q_raw = q_shared if q_shared is not None else F.linear(x, self.w_q)
        q, window = short_conv(q_raw, self.conv_q, cache.conv_q if cache is not None else None)
        if cache is not None:
            cache.conv_q = window
        q = q.view(b, t, c.n_heads, c.head_dim_k)
        if self.gdn:
            q = l2_normalize(F.silu(q))
            g = -self.A_log.float().exp() * F.softplus(F.linear(x, self.w_a).float() + self.dt_bias.float())
            beta = torch.sigmoid(F.linear(x, self.w_b).float())
            scale = 1.0 / math.sqrt(c.head_dim_k)
        else:
            dt = F.softplus(F.linear(x, self.w_dt).float() + self.dt_bias.float())
            g, beta, scale = -self.A_log.float().exp() * dt, dt, 1.0
        state = cache.state if cache is not None else None
        # One token (decoding) steps the definition; longer inputs take the chunked form, which
        # equals it to rounding (tests/test_recurrence.py). ORYX_FORCE_REFERENCE=1: always the former.
        # Our kernels (ops.py) where they apply: the step kernel only without autograd (it updates
        # the state in place and has no backward).
        forced = os.environ.get("ORYX_FORCE_REFERENCE") == "1"
        if not forced and kernels_usable(q, k, v):
            if t == 1 and not torch.is_grad_enabled():
                # A copy: the kernel updates it in place, and the cache's tensor may be shared
                # (a copied cache, a prefix reused for several continuations).
                state = (state.float().clone(memory_format=torch.contiguous_format) if state is not None
                         else q.new_zeros(b, c.n_heads, c.head_dim_k, c.head_dim_v, dtype=torch.float32))
                o = linear_step(c.linear, q[:, 0], k[:, 0], v[:, 0], g[:, 0], beta[:, 0], state, scale)[:, None]
            else:
                o, state = chunk_linear(c.linear, q, k, v, g, beta, state, scale)
        elif t == 1 or forced:
            o, state = recurrence_reference(q, k, v, g, beta, state, scale, delta=self.gdn)
        else:
            o, state = recurrence_chunked(q, k, v, g, beta, state, scale, delta=self.gdn, chunk=c.chunk_size)
        if cache is not None:
            cache.state = state
        if not self.gdn:
            o = o + (self.D.to(v.dtype).view(1, 1, -1, 1) * v)
        return o


class OryxLayer(nn.Module):
    def __init__(self, c: OryxConfig):
        super().__init__()
        d, hk, hv = c.d_model, c.n_heads * c.head_dim_k, c.n_heads * c.head_dim_v
        self.norm1 = nn.Parameter(torch.ones(d))
        self.w_k = nn.Parameter(torch.empty(hk, d))
        self.w_v = nn.Parameter(torch.empty(hv, d))
        self.conv_k = nn.Parameter(torch.empty(hk, c.conv_kernel))
        self.conv_v = nn.Parameter(torch.empty(hv, c.conv_kernel))
        if c.share_q:
            self.w_q = nn.Parameter(torch.empty(hk, d))
        self.w_g = nn.Parameter(torch.empty(hv, d))
        if not c.separate_out_norm:
            self.out_norm = nn.Parameter(torch.ones(c.head_dim_v))
        self.w_o = nn.Parameter(torch.empty(d, hv))
        self.norm2 = nn.Parameter(torch.ones(d))
        self.w_gate = nn.Parameter(torch.empty(c.mlp_hidden, d))
        self.w_up = nn.Parameter(torch.empty(c.mlp_hidden, d))
        self.w_down = nn.Parameter(torch.empty(d, c.mlp_hidden))
        self.attn = AttentionMixer(c) if c.has_attention else None
        self.lin = LinearMixer(c) if c.has_linear else None
        self.c = c

    def gated_norm(self, o, gate, weight):
        y = rms_norm(o.float(), weight, self.c.norm_eps) * F.silu(gate.float())
        return y.to(o.dtype)

    def forward(self, h, modes, positions, cache: Optional[LayerCache]):
        """h [B,T,D]; modes [B,T] bool (True = A); positions [T] absolute."""
        c = self.c
        b, t = h.shape[:2]
        x = rms_norm(h, self.norm1, c.norm_eps)
        k, win_k = short_conv(F.linear(x, self.w_k), self.conv_k, cache.conv_k if cache is not None else None)
        v, win_v = short_conv(F.linear(x, self.w_v), self.conv_v, cache.conv_v if cache is not None else None)
        if cache is not None:
            cache.conv_k, cache.conv_v = win_k, win_v
        if c.kv_conv_silu:
            k, v = F.silu(k), F.silu(v)
        k = k.view(b, t, c.n_heads, c.head_dim_k)
        v = v.view(b, t, c.n_heads, c.head_dim_v)
        if c.k_l2norm:
            k = l2_normalize(k)
        q_shared = F.linear(x, self.w_q) if c.share_q else None
        o_a = self.attn(x, q_shared, k, v, positions, cache) if self.attn is not None else None
        o_l = self.lin(x, q_shared, k, v, cache) if self.lin is not None else None
        pick_a = modes[..., None, None]
        o = o_l if o_a is None else o_a if o_l is None else torch.where(pick_a, o_a, o_l.to(o_a.dtype))
        gate = F.linear(x, self.w_g).view(b, t, c.n_heads, c.head_dim_v)
        if c.separate_out_norm:
            y = torch.where(pick_a, self.gated_norm(o, gate, self.attn.out_norm),
                            self.gated_norm(o, gate, self.lin.out_norm))
        else:
            y = self.gated_norm(o, gate, self.out_norm)
        h1 = h + F.linear(y.reshape(b, t, -1), self.w_o)
        x2 = rms_norm(h1, self.norm2, c.norm_eps)
        return h1 + F.linear(F.silu(F.linear(x2, self.w_gate)) * F.linear(x2, self.w_up), self.w_down)


class OryxForCausalLM(PreTrainedModel):
    """All five model kinds of oryx (transformer, gdn, mamba2, oryx-gdn, oryx-mamba2).

    forward(input_ids, schedule=..., modes=..., past_key_values=OryxCache) takes a mode
    schedule in the command-line grammar (oryx_lm.schedule) or an explicit [B,T] / [T] bool
    mask (True = attention); without either, config.schedule."""

    config_class = OryxConfig
    base_model_prefix = ""
    _no_split_modules = ["OryxLayer"]

    def __init__(self, config: OryxConfig):
        super().__init__(config)
        c = config
        self.embed = nn.Parameter(torch.empty(c.vocab_size, c.d_model))
        self.layers = nn.ModuleList([OryxLayer(c) for _ in range(c.n_layers)])
        self.final_norm = nn.Parameter(torch.ones(c.d_model))
        if not c.tie_embeddings:
            self.lm_head = nn.Parameter(torch.empty(c.vocab_size, c.d_model))
        self.post_init()

    def _init_weights(self, module):
        # Fresh models only (loading overwrites every tensor): oryx's initialisation in outline.
        std = self.config.init_std
        for name, p in module.named_parameters(recurse=False):
            if name in ("norm1", "norm2", "final_norm", "out_norm", "q_norm", "k_norm", "D"):
                nn.init.ones_(p)
            elif name in ("A_log", "dt_bias"):
                nn.init.zeros_(p)
            else:
                nn.init.normal_(p, std=std)

    @classmethod
    def from_oryx_checkpoint(cls, path: str, **config_overrides) -> "OryxForCausalLM":
        """Loads an `oryx train` checkpoint folder (config.json + model.safetensors)."""
        from safetensors.torch import load_file
        with open(os.path.join(path, "config.json")) as f:
            cfg = json.load(f)
        cfg.pop("weights", None)
        cfg.update(config_overrides)
        model = cls(OryxConfig(**cfg))
        state = load_file(os.path.join(path, "model.safetensors"))
        missing, unexpected = model.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise ValueError(f"{path}: tensors missing {sorted(missing)}, unexpected {sorted(unexpected)}")
        return model.eval()

    def _modes(self, b: int, t: int, start: int, schedule, modes) -> torch.Tensor:
        if modes is None:
            s = schedule if schedule is not None else self.config.schedule
            s = parse_schedule(s) if isinstance(s, str) else s
            modes = s.prompt_modes(t) if start == 0 else \
                torch.tensor([s.generated_mode(start + i, start) for i in range(t)], dtype=torch.bool)
        modes = modes.to(self.embed.device, torch.bool)
        if modes.dim() == 1:
            modes = modes.unsqueeze(0).expand(b, t)
        if self.config.kind == "transformer" and not bool(modes.all()):
            raise ValueError("a transformer's tokens are all in mode A")
        if self.config.kind == "linear" and bool(modes.any()):
            raise ValueError("a linear model's tokens are all in mode L")
        return modes

    def forward(self, input_ids: torch.LongTensor, schedule: Union[str, Schedule, None] = None,
                modes: Optional[torch.Tensor] = None, past_key_values: Optional[OryxCache] = None,
                labels: Optional[torch.LongTensor] = None, use_cache: Optional[bool] = None,
                attention_mask: Optional[torch.Tensor] = None, return_dict: bool = True, **kwargs):
        b, t = input_ids.shape
        cache = past_key_values
        if use_cache and cache is None:
            cache = OryxCache.empty(self.config.n_layers)
        start = cache.length if cache is not None else 0
        if start + t > self.config.max_seq_len:
            raise ValueError(f"sequence of {start + t} tokens is longer than max_seq_len {self.config.max_seq_len}")
        m = self._modes(b, t, start, schedule, modes)
        positions = torch.arange(start, start + t, device=input_ids.device)
        h = F.embedding(input_ids, self.embed)
        for i, layer in enumerate(self.layers):
            h = layer(h, m, positions, cache.layers[i] if cache is not None else None)
        if cache is not None:
            cache.length += t
        h = rms_norm(h, self.final_norm, self.config.norm_eps)
        logits = F.linear(h, self.embed if self.config.tie_embeddings else self.lm_head).float()
        loss = None
        if labels is not None:  # transformers' convention: labels are the inputs, shifted here
            loss = F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1),
                                   ignore_index=-100)
        if not return_dict:
            return (loss, logits) if loss is not None else (logits,)
        # The cache (when given or made by use_cache) was updated in place.
        return CausalLMOutputWithPast(loss=loss, logits=logits)

    @torch.no_grad()
    def generate(self, input_ids: torch.LongTensor, attention_mask: Optional[torch.Tensor] = None,
                 max_length: Optional[int] = None, max_new_tokens: Optional[int] = None, do_sample: bool = False,
                 temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0, eos_token_id=None,
                 pad_token_id: Optional[int] = None, stopping_criteria=None,
                 schedule: Union[str, Schedule, None] = None, vocab_limit: Optional[int] = None,
                 **unused) -> torch.LongTensor:
        """transformers' generate() for this model, with the KV cache and recurrent state: the
        prompt under the schedule's prompt modes, then each new token in the schedule's
        generated mode (`,gen=`). Greedy, or sampling with temperature / top_k / top_p; stops a
        sequence at eos_token_id or when stopping_criteria (a transformers StoppingCriteriaList,
        as lm-evaluation-harness passes) says so, padding it with pad_token_id after.
        Prompts of different lengths come left-padded, with attention_mask marking the padding
        (as transformers' tokenizers pad for generation): each row then gets its own cache and
        runs in lockstep with the others, so that it generates exactly what it would alone
        (positions and schedules count from its own first token). vocab_limit: only ids below it
        are chosen (the tokenizer's size, as `oryx generate` does when the model's vocab_size is
        larger; default config.tokenizer_vocab). Returns [B, T + new tokens]."""
        s = schedule if schedule is not None else self.config.schedule
        s = parse_schedule(s) if isinstance(s, str) else s
        if vocab_limit is None:
            vocab_limit = getattr(self.config, "tokenizer_vocab", None)
        b, t = input_ids.shape
        groups = self._prompt_groups(input_ids, attention_mask)
        if max_new_tokens is None:
            max_new_tokens = (max_length if max_length is not None else self.config.max_seq_len) - t
        max_new_tokens = max(0, min(max_new_tokens, self.config.max_seq_len - t))
        eos = [] if eos_token_id is None else [eos_token_id] if isinstance(eos_token_id, int) else list(eos_token_id)
        pad = pad_token_id if pad_token_id is not None else (eos[0] if eos else 0)
        seq = input_ids
        if max_new_tokens == 0:
            return seq
        logits = torch.cat([self(g.prompt, schedule=s, past_key_values=g.cache).logits[:, -1] for g in groups])
        done = torch.zeros(b, dtype=torch.bool, device=input_ids.device)
        for i in range(max_new_tokens):
            scores = logits.float()
            if vocab_limit is not None and vocab_limit < scores.shape[-1]:
                scores = scores[:, :vocab_limit]
            nxt = self._choose(scores, do_sample, temperature, top_k, top_p)
            nxt = torch.where(done, torch.full_like(nxt, pad), nxt)
            seq = torch.cat([seq, nxt[:, None]], 1)
            if eos:
                done |= torch.isin(nxt, torch.tensor(eos, device=nxt.device))
            if stopping_criteria is not None:
                stop = stopping_criteria(seq, scores)
                done |= stop.to(done.device) if torch.is_tensor(stop) else torch.full_like(done, bool(stop))
            if bool(done.all()) or i + 1 == max_new_tokens:
                break
            logits = torch.cat([
                self(nxt[g.rows, None], modes=torch.tensor([s.generated_mode(g.length + i, g.length)], dtype=torch.bool),
                     past_key_values=g.cache).logits[:, -1] for g in groups])
        return seq

    def _prompt_groups(self, input_ids: torch.Tensor, attention_mask: Optional[torch.Tensor]) -> List["_PromptGroup"]:
        """The batch as one group when no row is padded, else one group a row (its own cache)."""
        b, t = input_ids.shape
        new = lambda rows, prompt: _PromptGroup(rows, prompt, prompt.shape[1], OryxCache.empty(self.config.n_layers))
        if attention_mask is None:
            return [new(slice(0, b), input_ids)]
        if attention_mask.shape != input_ids.shape:
            raise ValueError(f"oryx generate: attention_mask {tuple(attention_mask.shape)} must be shaped like "
                             f"input_ids {tuple(input_ids.shape)}")
        mask = attention_mask.bool().to(input_ids.device)
        if bool(mask.all()):
            return [new(slice(0, b), input_ids)]
        lengths = mask.sum(1)
        left_padded = torch.arange(t, device=mask.device)[None, :] >= (t - lengths)[:, None]
        if not torch.equal(mask, left_padded):
            raise ValueError("oryx generate: attention_mask must mark left padding (zeros before each prompt, "
                             "as a tokenizer with padding_side='left' gives)")
        if bool((lengths == 0).any()):
            raise ValueError("oryx generate: a prompt of the batch has no tokens (its attention_mask is all zeros)")
        return [new(slice(r, r + 1), input_ids[r:r + 1, t - int(lengths[r]):]) for r in range(b)]

    @staticmethod
    def _choose(scores: torch.Tensor, do_sample: bool, temperature: float, top_k: int, top_p: float):
        if not do_sample or temperature == 0:
            return scores.argmax(-1)
        scores = scores / temperature
        if top_k and top_k < scores.shape[-1]:
            kth = scores.topk(top_k, -1).values[:, -1:]
            scores = scores.masked_fill(scores < kth, float("-inf"))
        if top_p < 1.0:
            sorted_scores, order = scores.sort(-1, descending=True)
            cum = sorted_scores.softmax(-1).cumsum(-1)
            drop = cum - sorted_scores.softmax(-1) > top_p  # keep the smallest set reaching top_p
            scores = scores.scatter(-1, order, sorted_scores.masked_fill(drop, float("-inf")))
        return torch.multinomial(scores.softmax(-1), 1)[:, 0]

    def generate_greedy(self, input_ids: torch.LongTensor, max_new_tokens: int,
                        schedule: Union[str, Schedule, None] = None,
                        vocab_limit: Optional[int] = None) -> torch.LongTensor:
        """Greedy decoding of exactly max_new_tokens tokens (generate() without stopping)."""
        return self.generate(input_ids, max_new_tokens=max_new_tokens, schedule=schedule, vocab_limit=vocab_limit)
