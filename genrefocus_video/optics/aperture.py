"""Aperture (iris) shapes and the bokeh kernels they make.

An aperture is a transmission function w(u, v) in [0, 1] on [-1, 1]², *normalised* as in
DESIGN.md: centred on its (transmission-weighted) centroid and scaled so its farthest
transmitting point lies at radius 1. The image of a point light at signed blur radius r is the
shape scaled by |r|: upright (y down) behind the focus plane (r < 0) and rotated by 180° in front
of it (r > 0) — the thin-lens geometry of a light field integrated over the aperture, exactly as
../shared/lfbench renders its ground truth.

Built-in shapes follow lfbench's definitions (disc, hexagon with a vertex at +x, triangle apex
up, heart lobes up, five-pointed star point up); `polygon` is an N-blade iris with rotation and
blade curvature (0 straight blades, 1 a round iris); `aspect` squeezes any shape anamorphically
(width/height of the bokeh); `image` is any grayscale image whose values are transmissions (its
longer side spans [-1, 1] before normalisation).
"""
from __future__ import annotations

import copy
import math
from functools import lru_cache
from pathlib import Path
from typing import Callable, Optional, Union

import numpy as np

from ..errors import ConfigError, InputError

Raw = Callable[[np.ndarray, np.ndarray], np.ndarray]

SHAPE_NAMES = ("disc", "polygon", "hexagon", "triangle", "heart", "star", "image")


# ----------------------------------------------------------------------------- raw shapes
def _disc(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return (x * x + y * y <= 1.0).astype(np.float32)


def _polygon(n: int, vertex_angle: float, curvature: float = 0.0) -> Raw:
    """Regular n-gon of circumradius 1 with a vertex at `vertex_angle` (image axes, y down).

    Blade curvature c blends the polygon's radial extent with the circle's, rho = (1-c) rho_poly + c,
    so c = 0 gives straight blades and c = 1 a disc (the look of rounded iris blades).
    """
    seg = 2.0 * math.pi / n
    apothem = math.cos(math.pi / n)

    def raw(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        r = np.hypot(x, y)
        phi = np.mod(np.arctan2(y, x) - vertex_angle, seg) - seg / 2.0  # angle from the edge normal
        rho = apothem / np.cos(phi)
        rho = (1.0 - curvature) * rho + curvature
        return (r <= rho).astype(np.float32)

    return raw


def _star(x: np.ndarray, y: np.ndarray, points: int = 5, inner: float = 0.382) -> np.ndarray:
    """Five-pointed star, one point up (y axis points down); lfbench's definition."""
    r = np.hypot(x, y)
    seg = 2 * math.pi / points
    phi = np.mod(np.arctan2(y, x) + math.pi / 2, seg)
    psi = np.minimum(phi, seg - phi)
    px, py = r * np.cos(psi), r * np.sin(psi)
    ix, iy = inner * math.cos(seg / 2), inner * math.sin(seg / 2)
    return ((ix - 1) * py - iy * (px - 1) >= 0).astype(np.float32)


def _heart(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Classic implicit heart, lobes up (lfbench's definition)."""
    X, Y = 1.3 * x, -1.3 * y + 0.1
    return ((X * X + Y * Y - 1) ** 3 - X * X * Y ** 3 <= 0).astype(np.float32)


def _image_raw(img: np.ndarray) -> Raw:
    """Bilinear lookup of a transmission image whose longer side spans [-1, 1]."""
    import cv2

    h, w = img.shape
    half = max(h, w) / 2.0

    def raw(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        mx = (x * half + (w - 1) / 2.0).astype(np.float32)
        my = (y * half + (h - 1) / 2.0).astype(np.float32)
        return cv2.remap(img, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)

    return raw


def load_aperture_image(image: Union[str, Path, np.ndarray]) -> np.ndarray:
    """A grayscale transmission image as float32 in [0, 1]; InputError if unreadable or empty."""
    import cv2

    if isinstance(image, (str, Path)):
        p = Path(image)
        if not p.is_file():
            raise InputError(f"{p}: aperture image not found")
        arr = cv2.imread(str(p), cv2.IMREAD_GRAYSCALE | cv2.IMREAD_ANYDEPTH)
        if arr is None:
            raise InputError(f"{p}: aperture image is not a readable image")
        name = str(p)
    else:
        arr = np.asarray(image)
        name = "aperture image"
        if arr.ndim == 3:
            arr = arr.mean(axis=2)
        if arr.ndim != 2 or arr.size == 0:
            raise InputError(f"{name}: expected a 2-D grayscale array, got shape {arr.shape}")
    if arr.dtype == np.uint8:
        out = arr.astype(np.float32) / 255.0
    elif arr.dtype == np.uint16:
        out = arr.astype(np.float32) / 65535.0
    else:
        out = arr.astype(np.float32)
    if not np.isfinite(out).all():
        raise InputError(f"{name}: aperture image contains NaN or inf")
    out = np.clip(out, 0.0, None)
    if out.max() <= 1e-6:
        raise InputError(f"{name}: aperture image is empty (no transmitting pixel)")
    return np.ascontiguousarray(out / out.max())


# ----------------------------------------------------------------------------- the aperture
class Aperture:
    """A normalised aperture: transmission on [-1, 1]², centroid at 0, circumradius 1."""

    _GRID = 1025  # normalisation grid (as lfbench), fine enough for 1e-3 accuracy

    def __init__(self, name: str, raw: Raw) -> None:
        self.name = name
        self._raw = raw
        g = np.linspace(-1.0, 1.0, self._GRID)
        X, Y = np.meshgrid(g, g)
        w = raw(X, Y).astype(np.float64)
        total = w.sum()
        if not total > 0:
            raise InputError(f"aperture {name!r} is empty (no transmitting point)")
        self.centroid = (float((w * X).sum() / total), float((w * Y).sum() / total))
        rr = np.hypot(X - self.centroid[0], Y - self.centroid[1])[w > 0]
        self.scale = float(rr.max() + (g[1] - g[0]) / 2.0)
        self.fill = float(total * (g[1] - g[0]) ** 2 / (math.pi * self.scale ** 2))  # area / unit disc
        self.pixel_aspect = 1.0  # width / height of one stored pixel on display (see with_pixel_aspect)
        self._kernels: dict = {}
        self._views: dict = {1.0: self}

    def with_pixel_aspect(self, pixel_aspect: float) -> "Aperture":
        """This aperture rasterised for pixels `pixel_aspect` times as wide as tall (a clip's sample
        aspect ratio: HDV 4:3, anamorphic 2:1, NTSC DV 10:11).

        Bokeh must be round on the display, not in stored pixels: a kernel of radius r (in pixel
        heights) spans r / pixel_aspect stored pixels across. Kernels stay square (side from the
        wider axis) so every backend takes them unchanged.
        """
        p = float(pixel_aspect)
        if not (math.isfinite(p) and 0.05 <= p <= 20.0):
            raise ConfigError(f"pixel aspect must be in [0.05, 20], got {pixel_aspect}")
        if p == self.pixel_aspect:
            return self
        other = self._views.get(p)  # kept, so its kernel cache lives across frames
        if other is None:
            if len(self._views) > 256:
                self._views.clear()
            other = copy.copy(self)
            other.pixel_aspect = p
            other._kernels = {}
            other._views = self._views
            self._views[p] = other
        return other

    def reach(self, radius_px: float) -> float:
        """How far (stored px, either axis) a kernel of `radius_px` extends: the region padding."""
        return abs(float(radius_px)) * max(1.0, 1.0 / self.pixel_aspect)

    def weight(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Transmission at normalised coordinates (u, v); zero outside the unit circle."""
        u = np.asarray(u, np.float64)
        v = np.asarray(v, np.float64)
        w = self._raw(self.centroid[0] + self.scale * u, self.centroid[1] + self.scale * v)
        return np.where(u * u + v * v <= 1.0, w, 0.0).astype(np.float64)

    def image(self, size: int = 257) -> np.ndarray:
        """The normalised shape as an image, upright (as behind-focus bokeh)."""
        g = np.linspace(-1.0, 1.0, size)
        U, V = np.meshgrid(g, g)
        return self.weight(U, V).astype(np.float32)

    def kernel(self, radius_px: float, front: bool = False, clip: Optional[tuple[float, float, float]] = None,
               supersample: int = 4) -> np.ndarray:
        """The point-spread function of a point at blur radius `radius_px`: sum 1, odd square size.

        Pixel (i, j) of the result, centred, is the area-averaged transmission of the shape scaled
        to `radius_px` (upright; rotated 180° when `front`; supersample² samples per pixel, linearly
        interpolated between the radii k/supersample px either side, so it is continuous in the
        radius). `clip=(cx, cy, rc)` intersects the PSF
        with a disc of radius rc·radius centred at (cx, cy)·radius (optical vignetting / cat's eye).
        """
        # The radius (px) and the clip are rounded to 1e-4 before anything is computed from them, not
        # only in the cache key: a kernel computed at 3.63142 px and then served for 3.63138 made a
        # frame's render depend on what the process had rendered before (a resumed job or another
        # worker's frames differed from an unbroken run's: lfbench exact rows by up to 3e-4 dB).
        radius_px = round(float(abs(radius_px)), 4)
        clip = None if clip is None else tuple(round(float(c), 4) for c in clip)
        key = (radius_px, bool(front), clip, supersample)
        cached = self._kernels.get(key)
        if cached is not None:
            return cached
        # Continuous in the radius: rasterised at the two neighbouring radii of a grid of step
        # 1/supersample px and linearly interpolated. A rasterisation alone is a step function of
        # the radius (a ring of samples enters the shape at once: +12 % on some kernel pixels at
        # r 3.631 px), which turned a 0.1 % change of depth into a visible pop on highlights
        # (benchmarks/render_depth_sensitivity.py). On the grid (integer radii among them: the
        # lattice layers of the linear range) the kernel is the rasterisation itself.
        h = 1.0 / max(1, supersample)
        q = radius_px / h
        i = math.floor(q + 1e-9)
        w = q - i
        if w < 1e-6 or radius_px < 1e-3:
            k = self._rasterise(radius_px, front, clip, supersample)
        else:
            k0 = self._grid_kernel(i * h, front, clip, supersample)
            k1 = self._grid_kernel((i + 1) * h, front, clip, supersample)
            pad = (k1.shape[0] - k0.shape[0]) // 2
            k0 = np.pad(k0, pad) if pad > 0 else k0
            if pad < 0:
                k1 = np.pad(k1, -pad)
            k = ((1.0 - w) * k0 + w * k1).astype(np.float32)
            k /= k.sum()
            half = int(math.ceil(self.reach(radius_px) + 0.5))  # trim all-zero border rings
            n0 = k.shape[0] // 2
            while n0 > half and not (k[0].any() or k[-1].any() or k[:, 0].any() or k[:, -1].any()):
                k = k[1:-1, 1:-1]
                n0 -= 1
            k = np.ascontiguousarray(k)
        k.setflags(write=False)
        if len(self._kernels) > 512:
            self._kernels.clear()
        self._kernels[key] = k
        return k

    def _grid_kernel(self, radius: float, front: bool, clip, ss: int) -> np.ndarray:
        """The rasterisation at a grid radius (cached: neighbouring radii share it)."""
        key = ("grid", round(radius, 6), bool(front),
               None if clip is None else tuple(round(c, 4) for c in clip), ss)
        k = self._kernels.get(key)
        if k is None:
            k = self._rasterise(radius, front, clip, ss)
            k.setflags(write=False)
            self._kernels[key] = k
        return k

    def _rasterise(self, radius: float, front: bool, clip, ss: int) -> np.ndarray:
        half = int(math.ceil(self.reach(radius) + 0.5))
        n = 2 * half + 1
        if radius < 1e-3:
            out = np.zeros((1, 1), np.float32)
            out[0, 0] = 1.0
            return out
        offs = (np.arange(ss) + 0.5) / ss - 0.5
        c = np.arange(-half, half + 1, dtype=np.float64)
        xs = (c[:, None] + offs[None, :]).reshape(-1)  # n*ss sample positions per axis
        X, Y = np.meshgrid(xs, xs)
        X = X * self.pixel_aspect  # stored pixels -> display units (pixel heights)
        sgn = -1.0 if front else 1.0  # front: rotated 180°, PSF(q) = w(-q / r)
        w = self.weight(sgn * X / radius, sgn * Y / radius)
        if clip is not None:
            cx, cy, rc = clip
            w = w * (((X / radius - cx) ** 2 + (Y / radius - cy) ** 2) <= rc * rc)
        k = w.reshape(n, ss, n, ss).mean(axis=(1, 3))
        total = k.sum()
        if total <= 0:  # sub-pixel shape missed by every sample: a delta keeps energy
            k = np.zeros((n, n))
            k[half, half] = 1.0
            total = 1.0
        return (k / total).astype(np.float32)

    def info(self) -> dict:
        return {"name": self.name, "centroid_raw": [round(c, 6) for c in self.centroid],
                "circumradius_raw": round(self.scale, 6), "fill_vs_disc": round(self.fill, 4)}

    def __repr__(self) -> str:
        pa = f", pixel_aspect={self.pixel_aspect:g}" if self.pixel_aspect != 1.0 else ""
        return f"Aperture({self.name!r}, fill={self.fill:.3f}{pa})"


def _transform(raw: Raw, rotation_deg: float, aspect: float) -> Raw:
    """Rotate (positive = clockwise on screen, y down) and squeeze (aspect = width/height)."""
    if rotation_deg == 0.0 and aspect == 1.0:
        return raw
    th = math.radians(rotation_deg)
    ct, st = math.cos(th), math.sin(th)
    sx = math.sqrt(aspect)
    # Shrink first so the rotated, squeezed shape (raw support within [-1, 1]², radius <= √2)
    # stays inside the normalisation grid; normalisation rescales it to circumradius 1 anyway.
    g = math.sqrt(2.0) * max(sx, 1.0 / sx)

    def out(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        x, y = g * x / sx, g * y * sx
        return raw(ct * x + st * y, -st * x + ct * y)

    return out


def make_aperture(shape: str = "disc", blades: int = 6, rotation_deg: float = 0.0, curvature: float = 0.0,
                  aspect: float = 1.0, image: Union[str, Path, np.ndarray, None] = None) -> Aperture:
    """Build a normalised :class:`Aperture`.

    shape: disc | polygon (N `blades`, `curvature`) | hexagon | triangle | heart | star | image
    (`image` = path or array). Rotation and anamorphic `aspect` apply to every shape.
    """
    if not isinstance(shape, str) or shape not in SHAPE_NAMES:
        raise ConfigError(f"aperture shape must be one of {', '.join(SHAPE_NAMES)}, got {shape!r}")
    if not (isinstance(blades, (int, np.integer)) and 3 <= int(blades) <= 64):
        raise ConfigError(f"aperture blades must be an integer in 3..64, got {blades!r}")
    if not (0.0 <= float(curvature) <= 1.0):
        raise ConfigError(f"aperture curvature must be in [0, 1], got {curvature}")
    if not (math.isfinite(float(aspect)) and 0.05 <= float(aspect) <= 20.0):
        raise ConfigError(f"aperture aspect must be in [0.05, 20], got {aspect}")
    if not math.isfinite(float(rotation_deg)):
        raise ConfigError(f"aperture rotation must be finite, got {rotation_deg}")
    if shape == "image" and image is None:
        raise ConfigError("aperture shape 'image' needs an aperture image (--aperture-image)")
    return _make_cached(shape, int(blades), float(rotation_deg), float(curvature), float(aspect),
                        image if isinstance(image, (str, Path)) or image is None else None,
                        None if isinstance(image, (str, Path)) or image is None else np.asarray(image))


def _make_cached(shape, blades, rotation_deg, curvature, aspect, image_path, image_arr) -> Aperture:
    if image_arr is not None:  # arrays are not hashable: no cache
        return _build(shape, blades, rotation_deg, curvature, aspect, None, image_arr)
    return _build_cached(shape, blades, rotation_deg, curvature, aspect,
                         None if image_path is None else str(image_path))


@lru_cache(maxsize=32)
def _build_cached(shape, blades, rotation_deg, curvature, aspect, image_path) -> Aperture:
    return _build(shape, blades, rotation_deg, curvature, aspect, image_path, None)


def _build(shape, blades, rotation_deg, curvature, aspect, image_path, image_arr) -> Aperture:
    if shape == "disc":
        raw: Raw = _disc
    elif shape == "polygon":
        raw = _polygon(blades, -math.pi / 2, curvature)  # a vertex at the top
    elif shape == "hexagon":
        raw = _polygon(6, 0.0, curvature)  # lfbench: a vertex at +x
    elif shape == "triangle":
        raw = _polygon(3, -math.pi / 2, curvature)
    elif shape == "heart":
        raw = _heart
    elif shape == "star":
        raw = _star
    else:
        raw = _image_raw(load_aperture_image(image_path if image_arr is None else image_arr))
    name = shape if shape != "image" else f"image:{image_path or 'array'}"
    return Aperture(name, _transform(raw, rotation_deg, aspect))
