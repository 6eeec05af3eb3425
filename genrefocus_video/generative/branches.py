"""Branch-aware FLUX transformer forward: text, image and condition token branches in one attention.

OminiControl/Genfocus conditioning (see :mod:`.flux`): each branch carries its own timestep
modulation, the LoRA runs only where a branch asks for it (condition branches), and condition
branches never attend to each other. Equal to ``FluxTransformer2DModel.forward`` for [text, image].
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence

import torch
import torch.nn.functional as F


@dataclass
class Branch:
    """One token branch of the joint attention.

    kind: "text", "image" (the noisy latents) or "cond" (a clean condition image).
    lora: whether the LoRA adapters run for this branch (condition branches only, in Genfocus).
    """

    kind: str
    tokens: torch.Tensor  # [B, N, D_in] (packed latents or T5 embeddings)
    ids: torch.Tensor  # [N, 3]
    timestep: torch.Tensor  # [B] flow time in [0, 1]
    pooled: torch.Tensor  # [B, P]
    guidance: Optional[torch.Tensor] = None  # [B] or None
    lora: bool = False
    name: str = ""


def group_mask(kinds: Sequence[str]) -> torch.Tensor:
    """Boolean [n, n]: may branch i (query) attend to branch j (key)? Conditions never see each other."""
    n = len(kinds)
    m = torch.ones(n, n, dtype=torch.bool)
    for i, ki in enumerate(kinds):
        for j, kj in enumerate(kinds):
            if ki == "cond" and kj == "cond" and i != j:
                m[i, j] = False
    return m


def _lin(module: torch.nn.Module, x: torch.Tensor, lora: bool) -> torch.Tensor:
    """Apply a (possibly LoRA-wrapped) linear layer, with the LoRA only when `lora` is True.

    peft wraps target layers in a LoraLayer whose ``base_layer`` is the frozen original; calling it
    directly skips every adapter without touching shared state (safe across branches and threads).
    """
    if not lora and hasattr(module, "base_layer"):
        return module.base_layer(x)
    return module(x)


def _ada_zero(norm: torch.nn.Module, x: torch.Tensor, emb: torch.Tensor, lora: bool, chunks: int):
    """AdaLayerNormZero(/Single) with the modulation linear routed through :func:`_lin`."""
    mod = _lin(norm.linear, F.silu(emb), lora).chunk(chunks, dim=1)
    shift, scale = mod[0], mod[1]
    return norm.norm(x) * (1 + scale[:, None]) + shift[:, None], mod[2:]


def _rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """FLUX rotary embedding on [B, S, H, D] with interleaved real pairs (as diffusers' apply_rotary_emb)."""
    x_real, x_imag = x.float().reshape(*x.shape[:-1], -1, 2).unbind(-1)
    x_rot = torch.stack([-x_imag, x_real], dim=-1).flatten(3)
    c, s = cos[None, :, None, :], sin[None, :, None, :]
    return (x.float() * c + x_rot * s).to(x.dtype)


def _attention(attn: Any, hs: list[torch.Tensor], branches: Sequence[Branch], ropes: list[tuple],
               mask: torch.Tensor, trace: Optional[dict], tag: str) -> list[torch.Tensor]:
    """Joint attention over branches, each query group seeing only the key groups `mask` allows."""
    qs, ks, vs = [], [], []
    for h, br in zip(hs, branches):
        if br.kind == "text":  # text branch: the added projections of dual-stream blocks
            q, k, v = attn.add_q_proj(h), attn.add_k_proj(h), attn.add_v_proj(h)
            nq, nk = attn.norm_added_q, attn.norm_added_k
        else:
            q, k, v = (_lin(attn.to_q, h, br.lora), _lin(attn.to_k, h, br.lora), _lin(attn.to_v, h, br.lora))
            nq, nk = attn.norm_q, attn.norm_k
        q, k, v = (t.unflatten(-1, (-1, attn.head_dim)) for t in (q, k, v))
        q, k = nq(q), nk(k)
        if trace is not None:
            trace.setdefault(tag, []).append({"name": br.name, "kind": br.kind, "q": q.detach().clone(),
                                              "k": k.detach().clone(), "v": v.detach().clone()})
        cos, sin = ropes[len(qs)]
        qs.append(_rope(q, cos, sin).transpose(1, 2))
        ks.append(_rope(k, cos, sin).transpose(1, 2))
        vs.append(v.transpose(1, 2))
    out = []
    for i, q in enumerate(qs):
        allowed = [j for j in range(len(qs)) if bool(mask[i, j])]
        k = torch.cat([ks[j] for j in allowed], dim=2)
        v = torch.cat([vs[j] for j in allowed], dim=2)
        o = F.scaled_dot_product_attention(q, k, v)
        out.append(o.transpose(1, 2).flatten(2, 3).to(q.dtype))
    return out


def branch_forward(transformer: Any, branches: Sequence[Branch], *, trace: Optional[dict] = None,
                   return_hidden: bool = False) -> Any:
    """FLUX transformer over several token branches; returns the image branch's prediction.

    Equivalent to ``FluxTransformer2DModel.forward`` when the branches are exactly [text, image]
    (the LoRA is then never used), except that each branch carries its own timestep modulation.
    With ``return_hidden`` also returns every branch's final hidden states (for tests/diagnostics).
    """
    t = transformer
    kinds = [b.kind for b in branches]
    if kinds.count("image") != 1 or kinds.count("text") != 1:
        raise ValueError("branch_forward needs exactly one text and one image branch")
    mask = group_mask(kinds)
    dtype = t.x_embedder.weight.dtype

    hs, tembs, ropes = [], [], []
    for br in branches:
        x = br.tokens.to(dtype)
        if br.kind == "text":
            hs.append(t.context_embedder(x))
        else:
            hs.append(_lin(t.x_embedder, x, br.lora))
        ts = br.timestep.to(dtype) * 1000
        if br.guidance is not None and t.config.guidance_embeds:
            tembs.append(t.time_text_embed(ts, br.guidance.to(dtype) * 1000, br.pooled.to(dtype)))
        else:
            tembs.append(t.time_text_embed(ts, br.pooled.to(dtype)))
        cos, sin = t.pos_embed(br.ids)
        ropes.append((cos.to(hs[-1].device), sin.to(hs[-1].device)))

    for bi, block in enumerate(t.transformer_blocks):
        normed, mods = [], []
        for h, br, e in zip(hs, branches, tembs):
            if br.kind == "text":
                n, m = _ada_zero(block.norm1_context, h, e, False, 6)
            else:
                n, m = _ada_zero(block.norm1, h, e, br.lora, 6)
            normed.append(n)
            mods.append(m)
        att = _attention(block.attn, normed, branches, ropes, mask, trace, f"double{bi}")
        new = []
        for h, a, (gate_msa, shift_mlp, scale_mlp, gate_mlp), br in zip(hs, att, mods, branches):
            if br.kind == "text":
                h = h + gate_msa[:, None] * block.attn.to_add_out(a)
                n2 = block.norm2_context(h) * (1 + scale_mlp[:, None]) + shift_mlp[:, None]
                h = h + gate_mlp[:, None] * block.ff_context(n2)
            else:
                h = h + gate_msa[:, None] * _lin(block.attn.to_out[0], a, br.lora)
                n2 = block.norm2(h) * (1 + scale_mlp[:, None]) + shift_mlp[:, None]
                ff = block.ff.net
                y = n2
                for layer in ff[:-1]:
                    y = layer(y)
                h = h + gate_mlp[:, None] * _lin(ff[-1], y, br.lora)
            if h.dtype == torch.float16:
                h = h.clip(-65504, 65504)
            new.append(h)
        hs = new

    for bi, block in enumerate(t.single_transformer_blocks):
        normed, gates, mlps = [], [], []
        for h, br, e in zip(hs, branches, tembs):
            lo = br.lora  # text runs the frozen weights in single blocks too
            n, (gate,) = _ada_zero(block.norm, h, e, lo, 3)
            normed.append(n)
            gates.append(gate)
            mlps.append(block.act_mlp(_lin(block.proj_mlp, n, lo)))
        att = _attention(block.attn, normed, [_as_joint(b) for b in branches], ropes, mask, trace, f"single{bi}")
        new = []
        for h, a, m, g, br in zip(hs, att, mlps, gates, branches):
            h = h + g[:, None] * _lin(block.proj_out, torch.cat([a, m], dim=2), br.lora)
            if h.dtype == torch.float16:
                h = h.clip(-65504, 65504)
            new.append(h)
        hs = new

    img = kinds.index("image")
    out = t.proj_out(t.norm_out(hs[img], tembs[img]))
    if return_hidden:
        return out, hs
    return out


def _as_joint(b: Branch) -> Branch:
    """Single-stream blocks use to_q/k/v for every token (text included); relabel text for _attention."""
    if b.kind != "text":
        return b
    return Branch("joint_text", b.tokens, b.ids, b.timestep, b.pooled, b.guidance, False, b.name)
