"""Thin lens: K from focal length, f-number, sensor and focus distance."""
from __future__ import annotations

import pytest

from genrefocus_video.errors import ConfigError
from genrefocus_video.optics.lens import camera_from_metadata, focus_disparity_from_distance, k_from_camera, sharp_zone_m


def test_halving_f_number_doubles_blur_radius():
    k4 = k_from_camera(50, 4.0, 36, 1920, 2.0)
    k2 = k_from_camera(50, 2.0, 36, 1920, 2.0)
    assert k2 == pytest.approx(2 * k4, rel=1e-12)


def test_k_matches_circle_of_confusion_by_hand():
    # 50 mm f/2 focused at 2 m, object at 4 m, full-frame 36 mm on 1920 px.
    f, n, zf, z = 0.050, 2.0, 2.0, 4.0
    A = f / n
    coc_m = A * f / (zf - f) * abs(z - zf) / z  # thin-lens circle of confusion diameter on the sensor
    radius_px = coc_m / 2 / 0.036 * 1920
    k = k_from_camera(50, 2.0, 36, 1920, zf)
    a, d = focus_disparity_from_distance(zf), 1 / z
    assert k * abs(d - a) == pytest.approx(radius_px, rel=1e-9)


def test_sharp_zone_is_where_the_thin_lens_circle_is_within_one_pixel():
    """The limits satisfy the thin-lens circle of confusion = 1 px by hand; past the hyperfocal
    distance the far limit is infinity; a focus range widens the zone."""
    f, n, zf, w = 0.050, 1.4, 2.5, 1920
    k = k_from_camera(50, n, 36, w, zf)
    near, far = sharp_zone_m(k, zf)
    A = f / n
    for z in (near, far):
        radius_px = A * f / (zf - f) * abs(z - zf) / z / 2 / 0.036 * w
        assert radius_px == pytest.approx(1.0, rel=1e-9)
    assert near < zf < far
    kh = k_from_camera(24, 8.0, 36, 1920, 3.0)
    assert sharp_zone_m(kh, 3.0)[1] == float("inf")  # 24 mm f/8 at 3 m: beyond the hyperfocal distance
    n2, f2 = sharp_zone_m(k, zf, focus_range=0.02)
    assert n2 < near and f2 > far


def test_metadata_and_35mm_equivalent():
    cam = camera_from_metadata({"focal_length_mm": 6.0, "f_number": 1.8, "focal_length_35mm": 26.0})
    assert cam["sensor_width_mm"] == pytest.approx(36 * 6 / 26)
    assert camera_from_metadata({"focal_length_35mm": 35.0, "f_number": 2.8})["sensor_width_mm"] == 36.0
    assert camera_from_metadata({"focal_length_mm": 50.0}) is None


def test_bad_camera():
    with pytest.raises(ConfigError, match="f_number"):
        k_from_camera(50, 0, 36, 1920)
    with pytest.raises(ConfigError, match="focus distance"):
        k_from_camera(50, 2, 36, 1920, 0.01)
