"""Aperture shapes: normalisation (centroid 0, circumradius 1), orientation, kernels, bad input."""
from __future__ import annotations

import math

import numpy as np
import pytest

from genrefocus_video.errors import ConfigError, InputError
from genrefocus_video.optics.aperture import make_aperture


def _moments(img: np.ndarray):
    g = np.linspace(-1, 1, img.shape[0])
    X, Y = np.meshgrid(g, g)
    w = img.astype(np.float64)
    cx, cy = (w * X).sum() / w.sum(), (w * Y).sum() / w.sum()
    rmax = np.hypot(X - cx, Y - cy)[w > 0].max()
    return cx, cy, rmax


@pytest.mark.parametrize("shape,kw", [("disc", {}), ("hexagon", {}), ("triangle", {}), ("heart", {}), ("star", {}),
                                      ("polygon", {"blades": 5, "rotation_deg": 17}),
                                      ("polygon", {"blades": 7, "curvature": 0.5}),
                                      ("disc", {"aspect": 2.0}), ("heart", {"aspect": 0.6, "rotation_deg": 30})])
def test_normalised_to_centroid_and_unit_circumradius(shape, kw):
    img = make_aperture(shape, **kw).image(401)
    cx, cy, rmax = _moments(img)
    assert abs(cx) < 0.01 and abs(cy) < 0.01
    assert 0.98 < rmax <= 1.0 + 1e-9


def test_image_aperture_normalised_like_a_named_shape():
    # An off-centre, small triangle drawn in a big canvas normalises to the built-in triangle.
    canvas = np.zeros((300, 400), np.uint8)
    tri = make_aperture("triangle").image(101)
    canvas[20:121, 250:351] = (tri * 255).astype(np.uint8)
    ap = make_aperture("image", image=canvas)
    a, b = ap.image(201), make_aperture("triangle").image(201)
    assert np.mean(np.abs(a - b)) < 0.03


def test_triangle_apex_up_and_polygon_blades():
    tri = make_aperture("triangle").image(201)
    rows = np.flatnonzero(tri.any(axis=1))
    top_width = tri[rows[0] + 5].sum()
    bottom_width = tri[rows[-1] - 5].sum()
    assert top_width < bottom_width / 4  # apex at the top (y down), flat base at the bottom
    # an N-blade iris fills area (N/2) sin(2π/N) of the unit disc's π; curvature 1 is a disc
    for n in (5, 6, 9):
        ap = make_aperture("polygon", blades=n)
        assert abs(ap.fill * math.pi - 0.5 * n * math.sin(2 * math.pi / n)) < 0.01
    assert abs(make_aperture("polygon", blades=5, curvature=1.0).fill - 1.0) < 0.01


def test_anamorphic_aspect_and_rotation():
    img = make_aperture("disc", aspect=2.0).image(201)
    w = img.any(axis=0).sum()
    h = img.any(axis=1).sum()
    assert abs(w / h - 2.0) < 0.05
    a = make_aperture("polygon", blades=4, rotation_deg=45).image(201)
    b = make_aperture("polygon", blades=4).image(201)
    # a 4-blade iris with a vertex up is a diamond; rotated 45° it becomes an axis-aligned square
    assert a.sum() / (201 * 201) > 0.45 and abs(a.sum() - b.sum()) / b.sum() < 0.02
    assert a[160, 160] == 1 and b[160, 160] == 0  # (0.6, 0.6): inside the square, outside the diamond
    assert a[100, 5] == 0 and b[100, 5] == 1  # (-0.95, 0): the diamond's vertex, beyond the square's side


@pytest.mark.parametrize("radius", [0.0, 0.3, 2.5, 7.0])
def test_kernel_sums_to_one_and_front_is_rotated(radius):
    ap = make_aperture("heart")
    k = ap.kernel(radius)
    assert abs(k.sum() - 1) < 1e-5 and k.shape[0] % 2 == 1
    np.testing.assert_allclose(ap.kernel(radius, front=True), k[::-1, ::-1], atol=1e-7)


def test_a_kernel_does_not_depend_on_what_was_asked_before():
    """Two identical apertures (image apertures are not shared), one first asked for a radius (and a
    cat's-eye clip) 4e-5 away, the same cache key: both give the same kernel, bit for bit. Before, the
    first request's kernel was served for the second, so a frame's render depended on the frames its
    process had rendered before (a resumed job differed from an unbroken one)."""
    yy, xx = np.mgrid[-32:33, -32:33]
    disc = ((yy ** 2 + xx ** 2) <= 30 ** 2).astype(np.float32)
    used, fresh = make_aperture("image", image=disc), make_aperture("image", image=disc)
    for first, clip in ((None, None), ((0.20004, 0.0, 0.8), (0.19996, 0.0, 0.8))):
        used.kernel(3.63142, clip=first)
        np.testing.assert_array_equal(used.kernel(3.63138, clip=clip), fresh.kernel(3.63138, clip=clip))


def test_kernel_area_matches_scaled_shape():
    ap = make_aperture("hexagon")
    k = ap.kernel(20.0)
    area = (k / k.max()).sum()
    assert abs(area - ap.fill * math.pi * 400) / (ap.fill * math.pi * 400) < 0.02


def test_bad_apertures():
    with pytest.raises(ConfigError, match="shape"):
        make_aperture("donut")
    with pytest.raises(InputError, match="empty"):
        make_aperture("image", image=np.zeros((16, 16), np.uint8))
    with pytest.raises(InputError, match="not found"):
        make_aperture("image", image="/nonexistent/aperture.png")
    with pytest.raises(ConfigError):
        make_aperture("image")
    with pytest.raises(ConfigError, match="blades"):
        make_aperture("polygon", blades=2)


def test_named_shapes_match_lfbench(lfbench):
    """Same normalisation and orientation as the ground-truth generator (DESIGN.md conventions)."""
    from lfbench.render import Aperture as LfAperture

    for name in ("disc", "hexagon", "triangle", "heart", "star"):
        ours = make_aperture(name).image(257)
        theirs = LfAperture.from_spec(name).image(257)
        assert np.mean(np.abs(ours - theirs)) < 0.005, name
