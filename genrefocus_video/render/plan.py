"""Depth layers of a layered bokeh render: where they lie in blur radius, what each one costs.

The signed blur radius r = K (d − a) is mapped to a layer coordinate t = φ(r) that is linear
(1 layer per `step` px) for small |r| and logarithmic beyond `step / rel` (1 layer per `rel`·|r|),
so each layer's blur-radius range stays small relative to its radius. Each pixel is split
between the two nearest layer centres ("knots") by a tent weight in u (the knot index, piecewise
linear in t) — a partition of unity, so a smooth depth ramp blends neighbouring kernels instead of
showing steps.

Where the knots lie (`Spacing.grid`, render option `layer_grid`, see :func:`layer_knots`):
'anchored' (default since 2026-11-26) puts them on the fixed lattice t ∈ ℤ — anchored at the
focus plane r = 0, independent of the frame — plus the frame's two extreme radii. Interior layers,
their kernels and their downsampling factors therefore do not move when a focus pull or a subject
moving in depth shifts the frame's blur range, in-focus pixels are exactly on a knot (rendered
sharp, never split between two blurred layers), and the nearest and farthest surfaces (and a
constant-depth frame) are rendered at their exact radius — or, within 0.2 layer of a lattice
point, merged into it continuously (:func:`extreme_knots`: a small depth change never makes them
jump). 'adaptive' (the plan before) spread the knots evenly between the extremes, so all of them
moved every frame and jumped when their count changed; 'lattice' uses t ∈ ℤ only (strictly
continuous in a, but splits every off-lattice surface, which over-compositing turns into a partly
smoothed copy: measured worse on lfbench).

Each layer is blurred at an integer downsampling factor s = max(1, round(|r| / r0)) so that the
kernel radius at the working resolution stays near r0 px: the cost per layer stays bounded while
blurred layers (which carry little high-frequency detail) lose nothing visible.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterator, Optional

import numpy as np

from ..optics.aperture import Aperture


@dataclass(frozen=True)
class Spacing:
    """Layer spacing: `step` px for small radii, relative `rel` beyond step/rel; `r0` multi-res knee."""

    step: float = 1.0
    rel: float = 0.12
    r0: float = 8.0
    grid: str = "anchored"  # layer placement, see layer_knots: anchored | lattice | adaptive

    @property
    def knee(self) -> float:
        return self.step / self.rel

    def t_of_r(self, r: np.ndarray) -> np.ndarray:
        a = np.abs(r)
        kn = self.knee
        lin = a / self.step
        log = kn / self.step + np.log(np.maximum(a, kn) / kn) / self.rel
        return np.sign(r) * np.where(a <= kn, lin, log)

    def r_of_t(self, t: np.ndarray) -> np.ndarray:
        a = np.abs(t)
        kt = self.knee / self.step
        return np.sign(t) * np.where(a <= kt, a * self.step, self.knee * np.exp((a - kt) * self.rel))


@dataclass
class LayerPlan:
    """One depth layer: signed centre radius, its working scale and region, its kernels."""

    index: int
    r: float
    scale: int
    roi: tuple[int, int, int, int]  # y0, y1, x0, x1 in frame pixels (size a multiple of scale where possible)
    kernels: list = field(default_factory=list)  # per zone: (zone index, [corr kernel R, G, B, A])


@dataclass
class RenderPlan:
    """Everything both backends need to render one frame the same way."""

    knots: np.ndarray  # layer centres in the layer coordinate t (increasing)
    n: int
    layers: list[LayerPlan]
    zones: Optional[tuple[int, int]]  # cat's-eye zone grid (ny, nx) or None
    spacing: Spacing
    u: Optional[np.ndarray] = None  # the layer coordinate map it was planned from (H×W float32)
    edge_matte: bool = True  # soft layer membership at depth edges (render/matte.py); off: benchmarks
    threads: Optional[int] = None  # CPU layer threads (None: min(cores, 4)); 1 to profile


def layer_coord(r: np.ndarray, plan: "RenderPlan") -> np.ndarray:
    """Continuous layer coordinate u in [0, n − 1] (float32): layer i holds w_i = max(0, 1 − |u − i|)
    of a pixel, and the part of it at or behind layer i is known_i = clip(i + 1 − u, 0, 1)."""
    if plan.u is not None and plan.u.shape == r.shape:
        return plan.u
    return _coord(r, plan.knots, plan.spacing)


_LUT_SIZE = 16385


def _coord(r: np.ndarray, knots: np.ndarray, spacing: Spacing,
           r_range: Optional[tuple[float, float]] = None) -> np.ndarray:
    """u = piecewise-linear map of t = φ(r) through the layer centres `knots` (increasing t) to 0..n−1.

    `r_range` = the whole frame's (min, max) r when `r` is a band of it (the lookup table is the
    frame's, so bands give the whole frame's u exactly).
    """
    n = len(knots)
    if n == 1:
        return np.zeros(r.shape, np.float32)
    idx = np.arange(n, dtype=np.float64)
    if r.size < 65536 and r_range is None:
        u = np.interp(spacing.t_of_r(r.astype(np.float64)), knots, idx)
        return u.astype(np.float32)
    # Big frames: a lookup table over [r_min, r_max], linearly interpolated (u is a smooth monotone
    # piecewise-linear function of r; the interpolation error is < 1e-6 layer).
    rmin, rmax = (float(r.min()), float(r.max())) if r_range is None else r_range
    return _apply_lut(r, _lut(knots, spacing, rmin, rmax), np.empty(r.shape, np.float32))


def _lut(knots: np.ndarray, spacing: Spacing, rmin: float, rmax: float) -> tuple:
    """(rmin, table, scale, n): u sampled on _LUT_SIZE radii spanning [rmin, rmax]."""
    n = len(knots)
    grid = np.linspace(rmin, rmax, _LUT_SIZE)
    table = np.interp(spacing.t_of_r(grid), knots, np.arange(n, dtype=np.float64)).astype(np.float32)
    return rmin, table, (_LUT_SIZE - 1) / max(rmax - rmin, 1e-12), n


def _apply_lut(r: np.ndarray, lut: tuple, out: np.ndarray) -> np.ndarray:
    """u of the radii `r` by the lookup table, linearly interpolated, written into `out` (elementwise:
    any block of rows gives the whole map's values there)."""
    rmin, table, scale, n = lut
    q = (r - np.float32(rmin)) * np.float32(scale)
    i0 = np.clip(q.astype(np.int32), 0, _LUT_SIZE - 2)
    q -= i0
    lo = table[i0]
    np.add(lo, q * (table[i0 + 1] - lo), out=out)
    return np.clip(out, 0.0, n - 1, out=out)


EXTREME_CLUSTER = 0.2  # layers: the pixels this close to the frame's extreme radius are one surface


def extreme_surfaces(r: np.ndarray, rmin: float, rmax: float, spacing: Spacing) -> tuple[float, float]:
    """(tmin, tmax): the layer coordinates of the farthest-behind and nearest extreme surfaces.

    Each is the median t of the pixels within EXTREME_CLUSTER layers of the frame's extreme, not
    the extreme itself: the extreme knots are rendered at exactly their radius, and the maximum of a
    surface that carries a little depth noise (any estimated, smoothed or compressed depth) lies
    ~3 sigma beyond it. That bias is small (0.05 px for 0.2 % noise at r 3.6 px) but bright
    highlights on the nearest surface show it: +1 % radius cost 0.4 dB on lfbench seed 17
    (docs/benchmarks/renderer.md, "Noisy depth"). Pixels beyond the median are clamped to it (a
    radius error below EXTREME_CLUSTER layers). Piecewise-constant depth is unchanged (its
    extreme surface is the extreme)."""
    tmin, tmax = float(spacing.t_of_r(np.array(rmin))), float(spacing.t_of_r(np.array(rmax)))
    if tmax - tmin <= 2.0 * EXTREME_CLUSTER:
        return tmin, tmax
    near = _cluster_median(r, np.float32(spacing.r_of_t(np.array(tmax - EXTREME_CLUSTER))), True)
    far = _cluster_median(r, np.float32(spacing.r_of_t(np.array(tmin + EXTREME_CLUSTER))), False)
    return (float(spacing.t_of_r(np.array(far))) if far is not None else tmin,
            float(spacing.t_of_r(np.array(near))) if near is not None else tmax)


CLUSTER_SAMPLE = 65536  # pixels: larger extreme clusters take their median on a 1-in-16 grid


def _cluster_median(r: np.ndarray, bound: np.float32, above: bool) -> Optional[float]:
    """Median of the radii at or beyond `bound` (above: >=, else <=); None if there are none.
    A cluster of many pixels (a large background) is sampled: its median is as good, 10x cheaper."""
    def members(x: np.ndarray) -> np.ndarray:
        return x[x >= bound] if above else x[x <= bound]

    if r.size > 16 * CLUSTER_SAMPLE:
        sampled = members(r[::4, ::4])
        if sampled.size >= CLUSTER_SAMPLE // 16:
            return float(np.median(sampled))
    found = members(r)
    return float(np.median(found)) if found.size else None


KNOT_MIN_GAP = 1e-6  # layers: knots closer than this are one (no duplicate layers)
KNOT_MERGE_GAP = 0.1  # layers: an extreme knot this close to its neighbour merges into it (g1)
KNOT_RAMP_GAP = 0.2  # layers: from here on the extreme knot is at its surface's exact radius (g2)


def layer_knots(tmin: float, tmax: float, grid: str) -> np.ndarray:
    """Layer centres in the layer coordinate t (increasing), for the frame's range [tmin, tmax].

    'anchored' (default): the lattice points t ∈ ℤ inside the range plus its two extreme knots
    (0 is a lattice point, so the focus plane is always a knot); an extreme closer than
    KNOT_MERGE_GAP to its neighbour merges into it, continuously (:func:`extreme_knots`). A
    lattice point entering the range appears on top of the extreme knot, so only the few pixels
    right at the frame's extreme depth are re-split at that moment (tests/test_render_temporal.py
    measures the focus sweep). 'lattice': t ∈ ℤ only. 'adaptive' (before 2026-11-26): evenly
    spaced (≤ 1 apart) between the extremes.
    """
    if grid == "adaptive":
        m = max(1, int(math.ceil(tmax - tmin - 1e-9)) + 1)
        return np.linspace(tmin, tmax, m) if m > 1 else np.array([tmin])
    if grid == "lattice":
        lo, hi = math.floor(tmin + 1e-6), math.ceil(tmax - 1e-6)
        return np.arange(lo, max(lo, hi) + 1, dtype=np.float64)
    kmin, kmax = extreme_knots(tmin, tmax)
    inner = np.arange(math.ceil(kmin), math.floor(kmax) + 1, dtype=np.float64)
    out: list[float] = []
    for k in [kmin, *inner, kmax]:  # knots closer than KNOT_MIN_GAP are one; a lattice point wins
        if out and k - out[-1] < KNOT_MIN_GAP:
            if k == round(k):
                out[-1] = k
            continue
        out.append(k)
    return np.asarray(out, dtype=np.float64)


def merge_ramp(delta: float, g1: Optional[float] = None, g2: Optional[float] = None) -> float:
    """Where a knot `delta` ≥ 0 layers from its neighbour is placed, as its distance from it: 0
    below g1 (merged), `delta` from g2 on (its own radius), linear in between, 0 → g2 over
    [g1, g2] — continuous, slope g2 / (g2 − g1) (2 at the defaults). g1 = 0: never merged;
    g2 ≤ g1: the step at g1 (the merge before 2026-12-06)."""
    g1 = KNOT_MERGE_GAP if g1 is None else g1
    g2 = KNOT_RAMP_GAP if g2 is None else g2
    if delta < g1:
        return 0.0
    if delta >= g2 or g2 <= g1:
        return float(delta)
    return (delta - g1) * g2 / (g2 - g1)


def extreme_knots(tmin: float, tmax: float) -> tuple[float, float]:
    """(kmin, kmax): the layer coordinates of the two extreme knots of the range [tmin, tmax].

    Why merge: a flat surface whose depth map carries a little noise (any estimated or compressed
    depth) spans a tiny radius range; its two extreme knots (or an extreme next to a lattice point)
    then sit a few hundredths of a layer apart and every pixel of the surface is split between them
    by a random share. Over-compositing the two halves of one surface replaces up to a quarter of it
    by its filled copy, differently in every frame — flicker from depth noise far too small to
    change the blur (measured: −7…−13 % instability from noisy depth at K 16, docs/benchmarks/
    renderer.md). Merged, the surface is rendered whole; pixels beyond an extreme knot are clamped
    to it, a blur radius error below KNOT_MERGE_GAP layers (0.1 px for small radii, 1.2 % beyond
    the knee).

    Why continuously (2026-12-06): a merge at a hard threshold made the extreme surface jump by
    the whole gap (0.1 layer) when its distance δ to the lattice point crossed it — a 0.1 %
    change of exact depth moved 5 % of the pixels by > 0.01 and the clip's PSNR by 0.14 dB
    (lfbench seed 11, benchmarks/render_depth_sensitivity.py; the aperture kernel's own steps,
    the rest of those pops, are removed in Aperture.kernel). Now the knot is at L ± merge_ramp(δ) from
    its neighbour L: at L below KNOT_MERGE_GAP, at the surface from KNOT_RAMP_GAP, in between
    linear, so the rendered radius is a continuous function of depth. The extreme surface's own
    pixels lie beyond the knot and stay clamped to it (whole, on one layer); only the pixels
    between L and the knot are split.

    The neighbour of an extreme is the lattice point next to it inside the range (a lattice
    point does not move between frames; 0 keeps the focus plane exact). With none inside (a
    near-constant frame within one cell (L, L + 1)), the two extremes are each other's neighbours:
    they are scaled about an anchor A by merge_ramp(D) / D (D = tmax − tmin; one knot at A
    below the gap). A is their mean (a constant frame is exact), pulled to tmin as tmin
    approaches L (to tmax as tmax approaches L + 1) within KNOT_RAMP_GAP, by at most D / 2: the
    knots then meet the lattice case's continuously when the lattice point enters the range.
    """
    lo, hi = math.ceil(tmin), math.floor(tmax)
    if lo <= hi:  # a lattice point inside the range
        return lo - merge_ramp(lo - tmin), hi + merge_ramp(tmax - hi)
    D = tmax - tmin
    if D <= 0.0:
        return tmin, tmax
    cell = math.floor(tmin)
    h = max(KNOT_RAMP_GAP, 1e-9)
    pull_lo = max(0.0, 1.0 - (tmin - cell) / h)
    pull_hi = max(0.0, 1.0 - (cell + 1 - tmax) / h)
    A = 0.5 * (tmin + tmax) + 0.5 * D * (pull_hi - pull_lo)
    f = merge_ramp(D) / D
    return A - f * (A - tmin), A + f * (tmax - A)


PARALLEL_MIN_PIXELS = 500_000  # frames from this size map u and the layer boxes in two row halves
MAP_ROWS = 64  # rows per block of the layer-coordinate map (block-sized temporaries)


def _plan_maps(r: np.ndarray, knots: np.ndarray, spacing: Spacing, threads: Optional[int]):
    """(u, rows, cols): the layer coordinate map and the rows/columns holding each layer.

    Big frames are mapped MAP_ROWS rows at a time into the map (the lookup table spans the whole
    frame's r range; rows of the blocks are disjoint, columns are OR-ed), so the mapping's
    temporaries are block-sized; from PARALLEL_MIN_PIXELS in two row halves on two threads. The
    same arrays as one pass.
    """
    n = len(knots)
    H = r.shape[0]
    if r.size < 65536 or n == 1 or H < 2:
        u = _coord(r, knots, spacing)
        return (u,) + _bbox_per_layer(u, n)
    lut = _lut(knots, spacing, float(r.min()), float(r.max()))
    u = np.empty(r.shape, np.float32)
    rows = np.zeros((n, H), bool)

    def rows_of(y0: int, y1: int) -> np.ndarray:
        cols = np.zeros((n, r.shape[1]), bool)
        for a in range(y0, y1, MAP_ROWS):
            b = min(y1, a + MAP_ROWS)
            _apply_lut(r[a:b], lut, u[a:b])
            rows[:, a:b], c = _bbox_per_layer(u[a:b], n)
            cols |= c
        return cols

    if (threads is not None and threads < 2) or r.size < PARALLEL_MIN_PIXELS:
        return u, rows, rows_of(0, H)
    from concurrent.futures import ThreadPoolExecutor

    h = H // 2
    with ThreadPoolExecutor(1) as pool:
        lower = pool.submit(rows_of, h, H)
        cols = rows_of(0, h)
        cols |= lower.result()
    return u, rows, cols


def _bbox_per_layer(u: np.ndarray, n: int):
    """Rows/cols holding each layer: a pixel at coordinate u touches layers floor(u) and ceil(u)."""
    H, W = u.shape
    lo = np.floor(u).astype(np.int32)
    hi = np.ceil(u).astype(np.int32)
    rows = np.zeros(n * H, bool)
    cols = np.zeros(n * W, bool)
    ry = np.arange(H, dtype=np.int32)[:, None]
    cx = np.arange(W, dtype=np.int32)[None, :]
    for idx in (lo, hi):
        rows |= np.bincount((idx * H + ry).ravel(), minlength=n * H) > 0
        cols |= np.bincount((idx * W + cx).ravel(), minlength=n * W) > 0
    return rows.reshape(n, H), cols.reshape(n, W)


def make_plan(r: np.ndarray, aperture: Aperture, spacing: Spacing, *, chromatic: float = 0.0,
              cats_eye: float = 0.0, frame_box: Optional[tuple[int, int, int, int]] = None,
              edge_matte: bool = True, threads: Optional[int] = None) -> RenderPlan:
    """Layers, regions of interest and kernels for a signed-radius map r (H×W float32).

    `frame_box = (y_off, x_off, full_h, full_w)` places a band of a larger frame (cat's eye is
    relative to the full frame's centre).
    """
    H, W = r.shape
    rmin, rmax = float(r.min()), float(r.max())
    tmin, tmax = extreme_surfaces(r, rmin, rmax, spacing)
    knots = layer_knots(tmin, tmax, spacing.grid)
    n = len(knots)
    u, rows, cols = _plan_maps(r, knots, spacing, threads)
    centres = spacing.r_of_t(knots) if n > 1 else np.array([rmin])
    rmax_abs = float(np.abs(centres).max())
    zones = None
    if cats_eye > 0:
        zones = (3, 3)
    layers = []
    for i in range(n):
        ry = np.flatnonzero(rows[i])
        cx = np.flatnonzero(cols[i])
        if ry.size == 0:
            continue
        R = abs(float(centres[i]))
        s = max(1, int(math.floor(R / spacing.r0 + 0.5))) if spacing.r0 > 0 else 1
        # Reach: the layer's own blur, plus room for nearer layers' blur to see its hidden extension.
        pad = int(math.ceil(aperture.reach(R) + aperture.reach(rmax_abs))) + 2 * s + 2
        y0, y1 = max(0, int(ry[0]) - pad), min(H, int(ry[-1]) + 1 + pad)
        x0, x1 = max(0, int(cx[0]) - pad), min(W, int(cx[-1]) + 1 + pad)
        if spacing.grid != "adaptive":
            # region origin on a frame-fixed lattice: the block means (×s) and the fill pyramid
            # (×FILL_SCALE, then 2×2 levels) sample the same frame positions when the region moves
            y_off, x_off = (frame_box[0], frame_box[1]) if frame_box is not None else (0, 0)
            A = s * max(1, FILL_ALIGN // s)
            y0, y1 = _align_global(y0, y1, s, A, y_off, H)
            x0, x1 = _align_global(x0, x1, s, A, x_off, W)
        else:
            y0, y1 = _align(y0, y1, s, H)
            x0, x1 = _align(x0, x1, s, W)
        plan = LayerPlan(i, float(centres[i]), s, (y0, y1, x0, x1))
        plan.kernels = _layer_kernels(aperture, float(centres[i]), s, chromatic, cats_eye, zones, frame_box, (H, W))
        layers.append(plan)
    return RenderPlan(knots, n, layers, zones, spacing, u, edge_matte, threads)


FILL_ALIGN = 32  # px: region origins are multiples of s·max(1, 32 // s) in frame coordinates


def _align_global(a: int, b: int, s: int, A: int, off: int, size: int) -> tuple[int, int]:
    """Grow [a, b) so that off + a is a multiple of A and b − a a multiple of s (clipped to the frame)."""
    a2 = max(0, ((off + a) // A) * A - off)
    b2 = min(size, a2 + -(-(b - a2) // s) * s)
    return a2, b2


def _align(a: int, b: int, s: int, size: int) -> tuple[int, int]:
    """Grow [a, b) to a multiple of s inside [0, size) where possible (else the backend pads)."""
    extra = (-(b - a)) % s
    b2 = min(size, b + extra)
    a2 = max(0, a - (extra - (b2 - b)))
    return a2, b2


def zone_centres(zones: tuple[int, int], frame_box, shape, pixel_aspect: float = 1.0) -> list[tuple[float, float]]:
    """Cat's-eye zone centres in frame coordinates normalised by the half diagonal (corners ≈ 1)."""
    ny, nx = zones
    if frame_box is None:
        fh, fw = shape
    else:
        fh, fw = frame_box[2], frame_box[3]
    fw = fw * pixel_aspect  # cat's eye is round on the display: positions in pixel heights
    half_diag = 0.5 * math.hypot(fh, fw)
    out = []
    for j in range(ny):
        for i in range(nx):
            px = (i / (nx - 1) - 0.5) * fw / half_diag
            py = (j / (ny - 1) - 0.5) * fh / half_diag
            out.append((px, py))
    return out


def zone_weights_1d(coord: np.ndarray, n: int, length: float) -> np.ndarray:
    """Tent partition of unity over n evenly spaced zone centres along an axis of `length` px."""
    pos = np.clip(coord / max(length - 1.0, 1.0) * (n - 1), 0, n - 1)
    w = np.maximum(0.0, 1.0 - np.abs(pos[None, :] - np.arange(n)[:, None]))
    return w.astype(np.float32)  # (n, len)


def zone_maps(plan: "RenderPlan", layer: Any, shape: tuple[int, int], frame_box: tuple) -> Iterator[tuple[Any, np.ndarray]]:
    """(kernels, H×W float32 weight map) for each cat's-eye zone that touches a layer's working tile.

    The zone weights are a tent partition of unity over the frame, sampled at the centres of the
    tile's pixels at the layer's working scale; zones with no weight in the tile are skipped.
    """
    y_off, x_off, full_h, full_w = frame_box
    y0, _, x0, _ = layer.roi
    s = layer.scale
    ny, nx = plan.zones
    hs, ws = shape
    wy = zone_weights_1d(y_off + y0 + (np.arange(hs) + 0.5) * s - 0.5, ny, full_h)
    wx = zone_weights_1d(x_off + x0 + (np.arange(ws) + 0.5) * s - 0.5, nx, full_w)
    for z, ks in layer.kernels:
        zy, zx = divmod(z, nx)
        if wy[zy].any() and wx[zx].any():
            yield ks, np.outer(wy[zy], wx[zx]).astype(np.float32)


MULTIRES_VAR = 1.0  # 4 × the resampling blur's variance / s²: box down 1/3 + bilinear up 2/3
CHROMATIC_SPREAD = 0.12  # relative radius change of R and B at chromatic = 1


def _layer_kernels(aperture: Aperture, r: float, s: int, chromatic: float, cats_eye: float,
                   zones, frame_box, shape) -> list:
    """Correlation kernels (PSF flipped) at the working resolution, per zone and channel.

    Chromatic fringing scales the R and B radii by 1 ± 0.12·chromatic with opposite signs in
    front of and behind the focus plane (longitudinal chromatic aberration: the fringe colour flips
    across focus); alpha uses the green kernel. Cat's eye intersects the PSF with a unit disc
    shifted toward the frame centre by cats_eye · (zone position), clipping the outer side.
    """
    front = r > 0
    R = abs(r)
    clip_aspect = aperture.pixel_aspect  # the clip's; the view below may differ per layer
    if s > 1:
        # box-averaging by s and bilinear upsampling add a blur of variance s²/12 + s²/6 = s²/4 per
        # axis; a disc of radius R has variance R²/4, so the working kernel is shrunk to
        # R' = sqrt(R² − s²) to keep the scaled aperture's second moment (+0.01 dB on lfbench)
        R2 = math.sqrt(max(R * R - MULTIRES_VAR * s * s, 0.25 * R * R))
        p = aperture.pixel_aspect
        if p != 1.0:  # across, the kernel spans R/p stored px: shrink that extent on its own
            across = math.sqrt(max((R / p) ** 2 - MULTIRES_VAR * s * s, 0.25 * (R / p) ** 2))
            aperture = aperture.with_pixel_aspect(R2 / across)
        R = R2
    R /= s
    sign = 1.0 if front else -1.0
    scales = (1.0 + sign * CHROMATIC_SPREAD * chromatic, 1.0, 1.0 - sign * CHROMATIC_SPREAD * chromatic)
    clips: list = [None]
    if zones is not None:
        clips = [(-cats_eye * px, -cats_eye * py, 1.0) for px, py in zone_centres(zones, frame_box, shape, clip_aspect)]
    out = []
    for z, clip in enumerate(clips):
        if chromatic == 0:  # one kernel object for all four channels (backends batch them)
            k = np.ascontiguousarray(aperture.kernel(R, front=front, clip=clip)[::-1, ::-1])
            out.append((z, [k, k, k, k]))  # correlation kernel = PSF rotated 180°
            continue
        psfs = [aperture.kernel(R * sc, front=front, clip=clip) for sc in scales]
        size = max(p.shape[0] for p in psfs)
        ks = []
        for p in psfs:
            pad = (size - p.shape[0]) // 2
            q = np.pad(p, pad) if pad else p
            ks.append(np.ascontiguousarray(q[::-1, ::-1]))  # correlation kernel = PSF rotated 180°
        ks.append(ks[1])
        out.append((z, ks))
    return out
