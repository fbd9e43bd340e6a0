"""The linear recurrences of mode L, in two forms that give the same result:

  recurrence_reference  one token at a time, the definition (docs/checkpoint-format.md):
      GDN:   S_t = a_t (I - b_t k_t k_t^T) S_{t-1} + b_t k_t v_t^T
      SSD:   S_t = a_t S_{t-1} + b_t k_t v_t^T
      o_t = scale * S_t^T q_t,  a_t = exp(g_t)
  recurrence_chunked    chunks of C tokens, matrix products inside a chunk; a loop over
      chunks only. Write u_t = b_t (v_t - a_t S_{t-1}^T k_t) for GDN (u_t = b_t v_t for SSD),
      so that S_t = a_t S_{t-1} + k_t u_t^T. With G_t the log decay summed from the chunk's
      start (Gamma_t = exp(G_t)) and S_0 the state before the chunk:
        S_t = Gamma_t S_0 + sum_{s<=t} (Gamma_t / Gamma_s) k_s u_s^T
        (I + diag(b) M) U = diag(b) (V - diag(Gamma) K S_0),  M[t,s] = (Gamma_t/Gamma_s) k_t.k_s, s < t
      a unit lower-triangular solve per chunk and head.

Both accumulate in fp32 (fp64 inputs stay fp64). q, k [B,T,H,K]; v [B,T,H,V]; g, beta [B,T,H];
state [B,H,K,V] or None (zeros). Return (o [B,T,H,V] in v's dtype, final state)."""
import math
from typing import Optional

import torch


def _compute_dtype(x: torch.Tensor) -> torch.dtype:
    return torch.float64 if x.dtype == torch.float64 else torch.float32


def recurrence_reference(q, k, v, g, beta, state: Optional[torch.Tensor], scale: float, delta: bool):
    b, t, h, kd = q.shape
    dt = _compute_dtype(v)
    s = state.to(dt) if state is not None else v.new_zeros(b, h, kd, v.shape[-1], dtype=dt)
    outs = []
    for i in range(t):
        q_t, k_t, v_t = q[:, i].to(dt), k[:, i].to(dt), v[:, i].to(dt)  # [B,H,K|V]
        a_t = g[:, i].to(dt).exp()[..., None, None]
        b_t = beta[:, i].to(dt)[..., None, None]
        if delta:
            s = a_t * (s - b_t * k_t.unsqueeze(-1) * (k_t.unsqueeze(-2) @ s)) + b_t * k_t.unsqueeze(-1) * v_t.unsqueeze(-2)
        else:
            s = a_t * s + b_t * k_t.unsqueeze(-1) * v_t.unsqueeze(-2)
        outs.append((q_t.unsqueeze(-2) @ s).squeeze(-2) * scale)
    o = torch.stack(outs, 1).to(v.dtype) if outs else torch.zeros_like(v)
    return o, s


def recurrence_chunked(q, k, v, g, beta, state: Optional[torch.Tensor], scale: float, delta: bool,
                       chunk: int = 64):
    b, t, h, kd = q.shape
    vd = v.shape[-1]
    dt = _compute_dtype(v)
    s = state.to(dt) if state is not None else v.new_zeros(b, h, kd, vd, dtype=dt)
    if t == 0:
        return torch.zeros_like(v), s
    n = math.ceil(t / chunk)
    pad = n * chunk - t

    def blocks(x):  # [B,T,H,*] -> [B,H,N,C,*], padded with zeros (g = 0, beta = 0: no update)
        x = x.to(dt)
        if pad:
            x = torch.nn.functional.pad(x, (0, 0) * (x.dim() - 2) + (0, pad))
        return x.reshape(b, n, chunk, h, *x.shape[3:]).transpose(2, 3).transpose(1, 2)

    qb, kb, vb = blocks(q), blocks(k), blocks(v)
    gb, bb = blocks(g.unsqueeze(-1)).squeeze(-1), blocks(beta.unsqueeze(-1)).squeeze(-1)  # [B,H,N,C]
    ones = torch.ones(chunk, chunk, dtype=torch.bool, device=v.device)
    incl, strict = torch.tril(ones), torch.tril(ones, -1)
    eye = torch.eye(chunk, dtype=dt, device=v.device)
    outs = []
    for i in range(n):
        qc, kc, vc, gc, bc = qb[:, :, i], kb[:, :, i], vb[:, :, i], gb[:, :, i], bb[:, :, i]
        G = gc.cumsum(-1)                                   # [B,H,C]
        diff = G.unsqueeze(-1) - G.unsqueeze(-2)            # [B,H,C,C]: G_t - G_s
        decay_incl = diff.masked_fill(~incl, float("-inf")).exp()
        gamma = G.exp()
        if delta:
            m = (kc @ kc.transpose(-1, -2)) * diff.masked_fill(~strict, float("-inf")).exp()
            rhs = bc.unsqueeze(-1) * (vc - gamma.unsqueeze(-1) * (kc @ s))
            u = torch.linalg.solve_triangular(eye + bc.unsqueeze(-1) * m, rhs, upper=False, unitriangular=True)
        else:
            u = bc.unsqueeze(-1) * vc
        outs.append(scale * (gamma.unsqueeze(-1) * (qc @ s) + ((qc @ kc.transpose(-1, -2)) * decay_incl) @ u))
        tail = (G[..., -1:] - G).exp().unsqueeze(-1)        # Gamma_C / Gamma_s
        s = gamma[..., -1, None, None] * s + (kc * tail).transpose(-1, -2) @ u
    o = torch.cat(outs, 2)[:, :, :t].transpose(1, 2)        # [B,T,H,V]
    return o.to(v.dtype), s
