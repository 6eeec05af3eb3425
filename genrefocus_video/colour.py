"""Transfer functions and Y'CbCr matrices, in float32 numpy.

Everything inside the tool is linear, scene-referred light; these functions are the only place
where encoded code values (0..1 normalised) meet linear light.

Scales (one meaning everywhere, see DESIGN.md and /tmp/contracts):

* ``linear``: identity.
* ``srgb``: IEC 61966-2-1 piecewise curve; code 1.0 <-> linear 1.0.
* ``bt709``: inverse of the ITU-R BT.709 camera OETF (scene light); code 1.0 <-> linear 1.0.
  (We invert the OETF rather than apply the BT.1886 display EOTF so a decode/encode round trip is
  exact and scene-referred values stay scene-referred.)
* ``pq``: SMPTE ST 2084 EOTF; linear 1.0 = 203 cd/m² (ITU-R BT.2408 HDR reference white), so
  the PQ ceiling of 10 000 cd/m² is linear 49.26.
* ``hlg``: inverse ITU-R BT.2100 HLG OETF (scene light, no OOTF), scaled so the 75 % signal
  (BT.2408 reference white) maps to linear 1.0; signal 1.0 is linear ≈ 3.77.

Values outside the nominal range are extended sensibly (sign-symmetric for sRGB/BT.709, clamped
at 0 for PQ/HLG) so super-whites and float headroom survive a round trip.

The Y'CbCr helpers implement ITU-R BT.601/709/2020 (non-constant luminance) with limited ("tv")
or full ("pc") range at any bit depth, directly on integer plane arrays: no 8-bit intermediate.
"""
from __future__ import annotations

import numpy as np

TRANSFERS = ("linear", "srgb", "bt709", "pq", "hlg")

# --- PQ (SMPTE ST 2084) -------------------------------------------------------------------------
_PQ_M1 = 2610.0 / 16384.0
_PQ_M2 = 2523.0 / 4096.0 * 128.0
_PQ_C1 = 3424.0 / 4096.0
_PQ_C2 = 2413.0 / 4096.0 * 32.0
_PQ_C3 = 2392.0 / 4096.0 * 32.0
PQ_REFERENCE_WHITE_NITS = 203.0
PQ_PEAK_NITS = 10000.0

# --- HLG (ITU-R BT.2100) -----------------------------------------------------------------------
_HLG_A = 0.17883277
_HLG_B = 1.0 - 4.0 * _HLG_A
_HLG_C = 0.5 - _HLG_A * np.log(4.0 * _HLG_A)


def _hlg_inverse_oetf(e: np.ndarray) -> np.ndarray:
    e = np.clip(e, 0.0, None)
    low = (e * e) / 3.0
    high = (np.exp((e - _HLG_C) / _HLG_A) + _HLG_B) / 12.0
    return np.where(e <= 0.5, low, high)


def _hlg_oetf(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, None)
    low = np.sqrt(3.0 * x)
    high = _HLG_A * np.log(np.maximum(12.0 * x - _HLG_B, 1e-12)) + _HLG_C
    return np.where(x <= 1.0 / 12.0, low, high)


#: scene light (0..1 HLG scale) of the 75 % HLG signal: BT.2408 reference white.
HLG_REFERENCE_WHITE = float(_hlg_inverse_oetf(np.array(0.75, np.float64)))


def _check(transfer: str) -> str:
    t = transfer.lower()
    if t not in TRANSFERS:
        raise ValueError(f"unknown transfer {transfer!r}; expected one of {', '.join(TRANSFERS)}")
    return t


def to_linear(code: np.ndarray, transfer: str) -> np.ndarray:
    """Encoded, normalised code values (0..1 nominal) -> linear light (float32)."""
    t = _check(transfer)
    v = np.asarray(code, dtype=np.float32)  # float32 math: SIMD pow is ~20x faster than float64
    if t == "linear":
        out = v
    elif t == "srgb":
        a = np.abs(v)
        out = np.sign(v) * np.where(a <= 0.04045, a / 12.92, ((a + 0.055) / 1.055) ** 2.4)
    elif t == "bt709":
        a = np.abs(v)
        out = np.sign(v) * np.where(a < 0.081, a / 4.5, ((a + 0.099) / 1.099) ** (1.0 / 0.45))
    elif t == "pq":
        p = np.clip(v, 0.0, None) ** (1.0 / _PQ_M2)
        y = (np.maximum(p - _PQ_C1, 0.0) / (_PQ_C2 - _PQ_C3 * p)) ** (1.0 / _PQ_M1)
        out = y * (PQ_PEAK_NITS / PQ_REFERENCE_WHITE_NITS)
    else:  # hlg
        out = _hlg_inverse_oetf(v) / HLG_REFERENCE_WHITE
    return np.asarray(out, dtype=np.float32)


def from_linear(lin: np.ndarray, transfer: str) -> np.ndarray:
    """Linear light -> encoded, normalised code values (float32; not clipped for srgb/bt709/linear)."""
    t = _check(transfer)
    v = np.asarray(lin, dtype=np.float32)
    if t == "linear":
        out = v
    elif t == "srgb":
        a = np.abs(v)
        out = np.sign(v) * np.where(a <= 0.0031308, a * 12.92, 1.055 * a ** (1.0 / 2.4) - 0.055)
    elif t == "bt709":
        a = np.abs(v)
        out = np.sign(v) * np.where(a < 0.018, a * 4.5, 1.099 * a ** 0.45 - 0.099)
    elif t == "pq":
        y = np.clip(v * (PQ_REFERENCE_WHITE_NITS / PQ_PEAK_NITS), 0.0, None) ** _PQ_M1
        out = ((_PQ_C1 + _PQ_C2 * y) / (1.0 + _PQ_C3 * y)) ** _PQ_M2
    else:  # hlg
        out = _hlg_oetf(v * np.float32(HLG_REFERENCE_WHITE))
    return np.asarray(out, dtype=np.float32)


# --- Y'CbCr ------------------------------------------------------------------------------------
#: (Kr, Kb) luma coefficients per matrix name (FFmpeg colorspace names accepted).
MATRIX_COEFFS = {
    "bt601": (0.299, 0.114),
    "smpte170m": (0.299, 0.114),
    "bt470bg": (0.299, 0.114),
    "bt709": (0.2126, 0.0722),
    "bt2020": (0.2627, 0.0593),
    "bt2020nc": (0.2627, 0.0593),
    "bt2020c": (0.2627, 0.0593),  # constant-luminance not modelled: treated as NCL (documented)
    "smpte240m": (0.212, 0.087),
    "fcc": (0.30, 0.11),
}


def _coeffs(matrix: str) -> tuple[float, float]:
    try:
        return MATRIX_COEFFS[matrix.lower()]
    except KeyError:
        raise ValueError(f"unknown YUV matrix {matrix!r}; expected one of {', '.join(sorted(MATRIX_COEFFS))}") from None


def _range_scale(bit_depth: int, color_range: str) -> tuple[float, float, float, float]:
    """(y_offset, y_scale, c_offset, c_scale) in integer code values at `bit_depth`."""
    if color_range == "pc":
        full = float((1 << bit_depth) - 1)
        return 0.0, full, float(1 << (bit_depth - 1)), full
    mul = float(1 << (bit_depth - 8))
    return 16.0 * mul, 219.0 * mul, 128.0 * mul, 224.0 * mul


def yuv_to_rgb(y: np.ndarray, u: np.ndarray, v: np.ndarray, *, bit_depth: int, matrix: str = "bt709",
               color_range: str = "tv") -> np.ndarray:
    """Integer Y', Cb, Cr planes (same size) -> normalised R'G'B' code values (float32 H×W×3)."""
    kr, kb = _coeffs(matrix)
    kg = 1.0 - kr - kb
    yo, ys, co, cs = _range_scale(bit_depth, color_range)
    yn = (y.astype(np.float32) - np.float32(yo)) / np.float32(ys)
    pb = (u.astype(np.float32) - np.float32(co)) / np.float32(cs)
    pr = (v.astype(np.float32) - np.float32(co)) / np.float32(cs)
    r = yn + np.float32(2.0 * (1.0 - kr)) * pr
    b = yn + np.float32(2.0 * (1.0 - kb)) * pb
    g = (yn - np.float32(kr) * r - np.float32(kb) * b) / np.float32(kg)
    return np.stack([r, g, b], axis=-1).astype(np.float32, copy=False)


def rgb_to_yuv(rgb: np.ndarray, *, bit_depth: int, matrix: str = "bt709",
               color_range: str = "tv") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Normalised R'G'B' code values (H×W×3) -> float Y', Cb, Cr planes in code values (not rounded)."""
    kr, kb = _coeffs(matrix)
    kg = 1.0 - kr - kb
    yo, ys, co, cs = _range_scale(bit_depth, color_range)
    rgb = rgb.astype(np.float32, copy=False)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    yn = np.float32(kr) * r + np.float32(kg) * g + np.float32(kb) * b
    pb = (b - yn) / np.float32(2.0 * (1.0 - kb))
    pr = (r - yn) / np.float32(2.0 * (1.0 - kr))
    return yn * np.float32(ys) + np.float32(yo), pb * np.float32(cs) + np.float32(co), pr * np.float32(cs) + np.float32(co)
