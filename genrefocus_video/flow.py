"""Dense optical flow (OpenCV DIS) with a forward-backward consistency mask.

One module shared by depth smoothing, subject tracking and (later) noise/latent warping.

* :func:`flow_dis` — DIS flow (Kroeger et al., "Fast Optical Flow using Dense Inverse Search",
  ECCV 2016) from image a to image b: pixel p of a is at p + flow(p) in b.
* :func:`forward_backward` — both directions plus the occlusion / consistency mask of Sundaram,
  Brox & Keutzer (ECCV 2010): p is valid when flow_ab(p) + flow_ba(p + flow_ab(p)) ~ 0,
  with tolerance ``alpha (|f|^2 + |b|^2) + beta`` px^2 — pixels that become occluded in b or leave
  the frame fail the round trip.
* :func:`warp` — backward warping: out(p) = img(p + flow(p)) (bilinear, border pixels replicated).
* :class:`PairFlows` — flows between numbered frames computed once per frame pair and preset and
  shared by every user in a job (the flow stage, a followed subject's walk back, depth probes).

Inputs are float32 linear RGB (or gray); they are encoded with the sRGB curve before the 8-bit
quantisation DIS needs, so that shadows keep texture (flow on linear values would lose it).
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Optional

import cv2
import numpy as np

_PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
    "fine": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,  # medium + finest scale 0
}


def to_gray8(img: np.ndarray) -> np.ndarray:
    """Linear float RGB/gray -> 8-bit sRGB-encoded luma (highlights above 1 are clipped)."""
    if img.dtype == np.uint8:
        return img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    # float32 throughout, one operation at a time and in place: the same values bit for bit as
    # where(x <= 0.0031308, 12.92 x, 1.055 x^(1/2.4) - 0.055) of the whole-array formula (tests/
    # test_flow_consistency.py), ~25 % less time at 720p (fewer full-frame temporaries)
    x = np.asarray(img, dtype=np.float32)
    if x.ndim == 3:
        luma = x[..., 0] * np.float32(0.2126)
        luma += x[..., 1] * np.float32(0.7152)
        luma += x[..., 2] * np.float32(0.0722)
        x = np.clip(luma, 0.0, 1.0, out=luma)
    else:
        x = np.clip(x, 0.0, 1.0)
    enc = np.power(x, np.float32(1 / 2.4))
    enc *= np.float32(1.055)
    enc -= np.float32(0.055)
    np.multiply(x, np.float32(12.92), out=enc, where=x <= np.float32(0.0031308))  # the linear segment
    enc *= np.float32(255.0)
    enc += np.float32(0.5)
    return np.clip(enc, 0, 255, out=enc).astype(np.uint8)


def flow_dis(img_a: np.ndarray, img_b: np.ndarray, preset: str = "medium") -> np.ndarray:
    """DIS optical flow a -> b as float32 H×W×2 (dx, dy): pixel p of a lies at p + flow(p) in b."""
    a, b = to_gray8(img_a), to_gray8(img_b)
    if a.shape != b.shape:
        raise ValueError(f"flow_dis: image sizes differ {a.shape} vs {b.shape}")
    dis = cv2.DISOpticalFlow_create(_PRESETS[preset])
    dis.setUseSpatialPropagation(True)
    if preset == "fine":
        dis.setFinestScale(0)  # full-resolution patches: thin structures keep their own motion
    flow = dis.calc(a, b, None)
    return flow.astype(np.float32, copy=False)


_GRIDS: "OrderedDict[tuple[int, int], tuple[np.ndarray, np.ndarray]]" = OrderedDict()


def _grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates (xs, ys) float32, read-only and kept for the last few frame sizes (a
    video's frames share one size: the grid is made once, not twice per frame pair)."""
    key = (h, w)
    grid = _GRIDS.get(key)
    if grid is None:
        ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
        xs.flags.writeable = ys.flags.writeable = False
        grid = _GRIDS[key] = (xs, ys)
        while len(_GRIDS) > 4:
            _GRIDS.popitem(last=False)
    return grid


def warp(img: np.ndarray, flow: np.ndarray, border: int = cv2.BORDER_REPLICATE,
         interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
    """Sample `img` at p + flow(p) (backward warp): brings img's content into flow's frame."""
    h, w = flow.shape[:2]
    xs, ys = _grid(h, w)
    mx = xs + flow[..., 0]
    my = ys + flow[..., 1]
    src = np.ascontiguousarray(img, dtype=np.float32) if img.dtype != np.uint8 else img
    return cv2.remap(src, mx, my, interpolation, borderMode=border)


def inside_mask(flow: np.ndarray, margin: float = 0.0) -> np.ndarray:
    """1 where p + flow(p) lands inside the frame (by `margin` px), else 0."""
    h, w = flow.shape[:2]
    xs, ys = _grid(h, w)
    tx, ty = xs + flow[..., 0], ys + flow[..., 1]
    return ((tx >= -margin) & (tx <= w - 1 + margin) & (ty >= -margin) & (ty <= h - 1 + margin)).astype(np.float32)


def consistency(flow_ab: np.ndarray, flow_ba: np.ndarray, alpha: float = 0.01, beta: float = 0.5) -> np.ndarray:
    """Soft forward-backward consistency of flow_ab in [0, 1] (Sundaram et al. 2010).

    err(p) = |flow_ab(p) + flow_ba(p + flow_ab(p))|^2 against the tolerance
    tol = alpha (|flow_ab|^2 + |flow_ba(.)|^2) + beta; valid = exp(-(err / tol)^2 / 2) so that
    err = tol gives ~0.6 and 2 tol ~0.14. Pixels whose target is outside the frame get 0.
    """
    h, w = flow_ab.shape[:2]
    xs, ys = _grid(h, w)
    fx, fy = cv2.split(np.ascontiguousarray(flow_ab, dtype=np.float32))
    tx, ty = xs + fx, ys + fy  # where each pixel lands in b
    bx, by = cv2.split(cv2.remap(np.ascontiguousarray(flow_ba, dtype=np.float32), tx, ty, cv2.INTER_LINEAR,
                                 borderMode=cv2.BORDER_REPLICATE))  # flow_ba there (bilinear)
    # the same float32 operations, in the same order, as the whole-array formula in the docstring
    # (tests/test_flow_consistency.py: equal bit for bit), one plane at a time and in place
    ex, ey = fx + bx, fy + by
    err = np.multiply(ex, ex, out=ex)
    err += np.multiply(ey, ey, out=ey)
    mag = np.multiply(fx, fx, out=fx)
    mag += np.multiply(fy, fy, out=fy)
    back2 = np.multiply(bx, bx, out=bx)
    back2 += np.multiply(by, by, out=by)
    tol = np.add(mag, back2, out=mag)
    tol *= np.float32(alpha)
    tol += np.float32(beta)
    q = np.divide(err, tol, out=err)
    np.multiply(q, q, out=q)
    q *= np.float32(-0.5)
    valid = np.exp(q, out=q)
    inside = (tx >= 0) & (tx <= w - 1) & (ty >= 0) & (ty <= h - 1)
    valid[~inside] = 0.0
    return valid


def forward_backward(img_a: np.ndarray, img_b: np.ndarray, preset: str = "medium"
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(flow_ab, flow_ba, valid_a): both DIS flows and the consistency mask of a's pixels.

    The two DIS passes run one after the other on the calling thread. On a second thread (until
    2026-12-05) the backward pass's working memory came from that thread's own malloc arena, which
    cannot reuse the pages the caller's earlier stages freed: at 1080p, one frame at a time, it sat
    on top of them (~120 MiB more at the job's peak, docs/benchmarks/memory.md); in a pipeline that
    already keeps both cores busy it bought little time (720p motion depth + smoothing 1.008x; a
    file-depth job, which its lead thread bounds, 0.98x: docs/benchmarks/speed.md). Inputs may be
    :func:`to_gray8` images already (a caller that keeps the previous frame's)."""
    a, b = to_gray8(img_a), to_gray8(img_b)
    fab = flow_dis(a, b, preset)
    fba = flow_dis(b, a, preset)
    return fab, fba, consistency(fab, fba)


class PairFlows:
    """DIS flows between numbered frames of one clip, keyed by (frame a, frame b, preset, size).

    Several parts of a job need the flow of the same frame pair: the flow stage (t -> t-1 and
    back), a followed subject walked back from its box frame (t -> t+1 and back) and the depth
    chains the focus probes run over earlier frames. DIS is deterministic, so a flow computed by
    one is exactly what another would compute: each pair is computed once. Flows are kept
    (`keep=True`) by the probes and the walk back, which run ahead of the main pass; the main pass
    takes them out as it reaches them (`consume=True`), so the cache empties behind it. An LRU
    bounded by `max_bytes` (the oldest pairs go first): memory stays flat in clip length.
    """

    def __init__(self, max_bytes: int = 256 * 2**20) -> None:
        self.max_bytes = int(max_bytes)
        self._flows: OrderedDict[tuple, tuple[np.ndarray, Optional[np.ndarray]]] = OrderedDict()  # (flow, mask)
        self._bytes = 0
        self._lock = threading.Lock()  # the flow stage may run a frame ahead of the focus stage's users
        self.hits = self.misses = 0  # flows served from the cache / computed

    def __getstate__(self) -> dict:  # picklable (Ray ships stages): the flows stay where they were made
        st = dict(self.__dict__)
        st["_flows"], st["_bytes"] = OrderedDict(), 0
        del st["_lock"]
        return st

    def __setstate__(self, st: dict) -> None:
        self.__dict__.update(st)
        self._lock = threading.Lock()

    def _take(self, key: tuple, consume: bool) -> Optional[tuple[np.ndarray, Optional[np.ndarray]]]:
        """(flow, its consistency mask or None) of `key`, or None."""
        with self._lock:
            entry = self._flows.pop(key, None) if consume else self._flows.get(key)
            if entry is not None:
                self.hits += 1
                if consume:
                    self._bytes -= _entry_bytes(entry)
                else:
                    self._flows.move_to_end(key)
            return entry

    def _put(self, key: tuple, flow: np.ndarray, valid: Optional[np.ndarray]) -> None:
        with self._lock:
            old = self._flows.pop(key, None)
            entry = (flow, valid)
            self._bytes += _entry_bytes(entry) - (_entry_bytes(old) if old is not None else 0)
            self._flows[key] = entry
            while self._bytes > self.max_bytes and self._flows:
                self._bytes -= _entry_bytes(self._flows.popitem(last=False)[1])

    def discard(self, ia: int, ib: int, preset: str, size: tuple[int, int]) -> None:
        """Drop the pair of frames `ia`, `ib` (both directions) if it is kept: a user that got it
        elsewhere (the OFX bridge's content-keyed cache) ends a hand-over."""
        for key in ((ia, ib, preset, tuple(size)), (ib, ia, preset, tuple(size))):
            self._take(key, consume=True)

    def forward_backward(self, ia: int, ib: int, img_a: np.ndarray, img_b: np.ndarray, preset: str = "medium",
                         keep: bool = True, consume: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:func:`forward_backward` of frames `ia` (img_a) and `ib` (img_b), from the cache where it
        has them; `keep`: store what was computed; `consume`: drop what was used. Both: a hand-over
        between two users of the pair in either order (the smoother's look-ahead at frame t and the
        flow stage at t + 1): the first computes and stores it, the second takes it out. The
        consistency mask of a's pixels is kept with a's flow (the hand-over's second user does not
        compute it again: the same flows give the same mask)."""
        size = tuple(img_a.shape[:2])
        kab, kba = (ia, ib, preset, size), (ib, ia, preset, size)
        eab, eba = self._take(kab, consume), self._take(kba, consume)
        handed_over = consume and eab is not None and eba is not None
        if eab is None and eba is None:
            fab, fba, valid = forward_backward(img_a, img_b, preset)
            self.misses += 2
        else:
            fab, fba = (eab[0] if eab is not None else None), (eba[0] if eba is not None else None)
            if fab is None:
                fab, self.misses = flow_dis(img_a, img_b, preset), self.misses + 1
            if fba is None:
                fba, self.misses = flow_dis(img_b, img_a, preset), self.misses + 1
            kept = eab[1] if eab is not None else None
            valid = kept if kept is not None else consistency(fab, fba)
        if keep and not handed_over:
            self._put(kab, fab, valid)
            self._put(kba, fba, eba[1] if eba is not None else None)
        return fab, fba, valid


def _entry_bytes(entry: tuple[np.ndarray, Optional[np.ndarray]]) -> int:
    return entry[0].nbytes + (entry[1].nbytes if entry[1] is not None else 0)


def photometric_consistency(img_a: np.ndarray, img_b: np.ndarray, flow_ab: np.ndarray,
                            sigma: float = 0.06) -> np.ndarray:
    """exp(-(|enc(a) - enc(warp(b, flow_ab))| / sigma)^2): 1 where the warped colours agree.

    Computed on sRGB-encoded luma in [0, 1] so the tolerance is perceptual (sigma 0.06 ~ 15 codes).
    `img_a` / `img_b` may be :func:`to_gray8` images already.
    """
    ga = to_gray8(img_a).astype(np.float32)
    ga /= np.float32(255.0)
    gb = to_gray8(img_b).astype(np.float32)
    gb /= np.float32(255.0)
    gb = warp(gb, flow_ab)
    gb -= ga  # float32 in place, the same bits as the formula: |gb - ga| = |ga - gb|
    diff = cv2.GaussianBlur(np.abs(gb, out=gb), (3, 3), 0.7)
    diff /= np.float32(sigma)
    diff *= diff
    return np.exp(np.negative(diff, out=diff), out=diff)


def histogram_similarity(img_a: np.ndarray, img_b: np.ndarray) -> float:
    """Correlation of the 2-D hue/saturation + value histograms of two frames (1 = same content)."""
    def hist(img: np.ndarray) -> np.ndarray:
        g = cv2.cvtColor(_encode_rgb8(img), cv2.COLOR_RGB2HSV)
        h = cv2.calcHist([g], [0, 1, 2], None, [12, 4, 8], [0, 180, 0, 256, 0, 256])
        return cv2.normalize(h, h).flatten()
    return float(cv2.compareHist(hist(img_a), hist(img_b), cv2.HISTCMP_CORREL))


def _encode_rgb8(img: np.ndarray) -> np.ndarray:
    x = np.clip(np.asarray(img, dtype=np.float32), 0.0, 1.0)
    enc = np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1 / 2.4) - 0.055)
    return np.clip(enc * 255.0 + 0.5, 0, 255).astype(np.uint8)


def detect_scene_cut(cur: np.ndarray, prev: np.ndarray, flow_to_prev: np.ndarray, valid: np.ndarray,
                     explained_min: float = 0.3, hist_min: float = 0.7,
                     grays: Optional[tuple[np.ndarray, np.ndarray]] = None) -> tuple[bool, float, float]:
    """(is_cut, explained_fraction, histogram_similarity) between consecutive frames.

    A cut is declared when the flow explains less than `explained_min` of the frame (pixels that
    are both forward-backward consistent and photometrically consistent after warping) AND the
    colour histograms differ (correlation < `hist_min`): fast motion fails the first test only,
    a lighting change the second only, a cut both. `grays`: the two frames' :func:`to_gray8` images
    when the caller has them (the photometric check then does not encode them again).
    """
    photo = photometric_consistency(*(grays if grays is not None else (cur, prev)), flow_to_prev)
    explained = int(np.count_nonzero((valid > 0.5) & (photo > 0.5))) / photo.size  # the mean, exactly
    if explained >= explained_min:
        return False, explained, 1.0
    hs = histogram_similarity(cur, prev)
    return hs < hist_min, explained, hs
