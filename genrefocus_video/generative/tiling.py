"""Where the FLUX sampler tiles a frame, which position ids each branch gets, and the blending.

Behaviour matched to the Genfocus reference (``generate`` in its ``pipeline/flux.py`` plus the
tiling switch of its inference scripts), point by point:

* **When to tile** (:func:`should_tile`): only when the token grid has at least 32² tokens *and* its
  short side is at least 32 tokens (512 px at FLUX's 16 px per token). 360p, 480p and 480×832 run
  whole; 512×768, 720p and 1080p are tiled. ``mode`` "on"/"off" overrides the rule.
* **Untiled ids**: the frame's own grid (rows 0..th-1, cols 0..tw-1) for the image; each condition
  the same grid shifted by its delta. DeblurNet's pre-deblur branch is shifted by the fixed (0, 32)
  whatever the frame width (the reference's pre-deblur script), even where that overlaps the grid.
* **Tiled ids**: inside a tile the image *and every condition* get the same tile-local grid
  (rows/cols 0..31); the conditions' deltas are dropped.
* **Tiles**: 32-token tiles with 4 tokens (1/8) overlap, stride 28, the last tile flush with the
  border; velocities blended with the Gaussian window exp(-(x²+y²)) on [-2, 2]².
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

import torch

#: Genfocus tile size in packed latent tokens (32 tokens = 512 px for FLUX's 8x VAE + 2x2 packing).
GENFOCUS_TILE_TOKENS = 32
#: Genfocus's column shift of the pre-deblur branch (one 512-px tile to the right), fixed.
GENFOCUS_PREDEBLUR_SHIFT = 32
TILING_MODES = ("auto", "on", "off")


def should_tile(th: int, tw: int, mode: Any = "auto", tile_tokens: int = GENFOCUS_TILE_TOKENS) -> bool:
    """The reference's tiling rule on a th x tw token grid; "on"/"off" (or True/False) force it.

    auto: tiled iff th·tw >= tile² and min(th, tw) >= tile (short side >= 512 px on FLUX.1-dev).
    """
    if mode is None or mode == "auto":
        return th * tw >= tile_tokens ** 2 and min(th, tw) >= tile_tokens
    if mode in (True, "on"):
        return True
    if mode in (False, "off"):
        return False
    raise ValueError(f"tiling must be one of {', '.join(TILING_MODES)}, got {mode!r}")


def grid_ids(th: int, tw: int, delta: tuple[int, int] = (0, 0), device: Any = "cpu") -> torch.Tensor:
    """Position ids [th*tw, 3] = (0, row + delta_row, col + delta_col), row-major like the tokens."""
    rows = torch.arange(th, device=device, dtype=torch.float32)[:, None].expand(th, tw)
    cols = torch.arange(tw, device=device, dtype=torch.float32)[None, :].expand(th, tw)
    ids = torch.stack([torch.zeros_like(rows), rows + delta[0], cols + delta[1]], dim=-1)
    return ids.reshape(th * tw, 3)


def resolve_delta(delta: Any) -> tuple[int, int]:
    """A condition's (row, col) shift; ``"predeblur"`` is the reference's fixed (0, 32)."""
    if delta == "predeblur":
        return (0, GENFOCUS_PREDEBLUR_SHIFT)
    return (int(delta[0]), int(delta[1]))


def tile_starts(n: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles of size `tile` covering [0, n) with at least `overlap` shared tokens."""
    if n <= tile:
        return [0]
    stride = max(1, tile - overlap)
    starts = list(range(0, n - tile + 1, stride))
    if starts[-1] + tile < n:
        starts.append(n - tile)
    return starts


def tile_window(th: int, tw: int, device: Any = "cpu", dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Smooth strictly positive blending window [th*tw]: exp(-(x²+y²)) on [-2, 2]² (the reference's).

    Positive everywhere so every token has weight; smooth so blended velocities have no seams.
    """
    y = torch.linspace(-2, 2, th, device=device, dtype=torch.float32)
    x = torch.linspace(-2, 2, tw, device=device, dtype=torch.float32)
    w = torch.exp(-(y[:, None] ** 2 + x[None, :] ** 2))
    return w.reshape(-1).to(dtype)


def tile_indices(th: int, tw: int, tile: int, overlap: int) -> list[torch.Tensor]:
    """Token indices (row-major) of every tile of a th x tw grid."""
    index = torch.arange(th * tw).view(th, tw)
    return [index[r:r + min(tile, th), c:c + min(tile, tw)].reshape(-1)
            for r in tile_starts(th, tile, overlap) for c in tile_starts(tw, tile, overlap)]


@dataclass
class GridPlan:
    """Position ids of the image branch and of every condition branch, and the tiling used.

    Tiled: `ids`/`cond_ids` are the tile-local grid (every tile gets the same ids). Untiled: the
    whole frame's grid, conditions shifted by their deltas.
    """

    ids: torch.Tensor
    cond_ids: list[torch.Tensor]
    tile: int  # tile side in tokens (the whole grid when untiled)
    overlap: int
    tiled: bool


def plan_grid(th: int, tw: int, deltas: Sequence[Any], tile_tokens: int = GENFOCUS_TILE_TOKENS, *,
              tile: Any = "auto", overlap_tokens: Optional[int] = None) -> GridPlan:
    """Decide tiling (:func:`should_tile`) and build the position ids as the reference does."""
    tiled = should_tile(th, tw, tile, tile_tokens)
    if not tiled:
        n = max(th, tw)
        return GridPlan(grid_ids(th, tw), [grid_ids(th, tw, resolve_delta(d)) for d in deltas], n,
                        overlap_tokens if overlap_tokens is not None else max(1, n // 8), False)
    local = grid_ids(min(tile_tokens, th), min(tile_tokens, tw))
    overlap = overlap_tokens if overlap_tokens is not None else max(1, tile_tokens // 8)
    return GridPlan(local, [local for _ in deltas], tile_tokens, overlap, True)


TileFn = Callable[[torch.Tensor, torch.Tensor, list[torch.Tensor], list[torch.Tensor]], torch.Tensor]


def tiled_apply(fn: TileFn, latents: torch.Tensor, plan: GridPlan, conds: list[torch.Tensor],
                th: int, tw: int) -> torch.Tensor:
    """Evaluate `fn(latents, ids, conds, cond_ids)` on the plan's tiles and blend the outputs.

    Tokens are row-major on a th x tw grid; every condition is cropped to the same token indices as
    the image; the ids are the plan's (tile-local when tiled). Weights from :func:`tile_window`.
    """
    tiles = tile_indices(th, tw, plan.tile, plan.overlap)
    if not plan.tiled or len(tiles) == 1:  # one window: w·v / w would only add rounding
        return fn(latents, plan.ids, conds, plan.cond_ids)
    acc = torch.zeros(latents.shape[0], th * tw, latents.shape[2], device=latents.device, dtype=torch.float32)
    wsum = torch.zeros(th * tw, device=latents.device, dtype=torch.float32)
    win = tile_window(min(plan.tile, th), min(plan.tile, tw), device=latents.device)
    for idx in tiles:
        idx = idx.to(latents.device)
        out = fn(latents[:, idx], plan.ids, [x[:, idx] for x in conds], plan.cond_ids)
        acc[:, idx] += out.float() * win[None, :, None]
        wsum[idx] += win
    return (acc / wsum[None, :, None]).to(latents.dtype)
