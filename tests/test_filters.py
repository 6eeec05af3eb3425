"""The guided filter against its defining properties (He et al.)."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from genrefocus_video.filters import guided_filter


def test_constant_source_is_unchanged():
    rng = np.random.default_rng(0)
    guide = rng.random((40, 50), dtype=np.float32)
    out = guided_filter(guide, np.full((40, 50), 3.5, np.float32), 4, 1e-3)
    assert np.allclose(out, 3.5, atol=1e-4)


def test_source_equal_to_guide_is_kept_where_contrast_beats_eps():
    """With p = I the local model a ≈ var/(var+eps) ≈ 1: a step edge survives (no blur across it)."""
    guide = np.zeros((32, 64), np.float32)
    guide[:, 32:] = 1.0
    out = guided_filter(guide, guide, 5, 1e-4)
    assert np.abs(out - guide).max() < 0.01
    blurred = cv2.blur(guide, (11, 11), borderType=cv2.BORDER_REFLECT)
    assert np.abs(blurred - guide).max() > 0.3  # a box filter of the same size would have smeared it


def test_flat_guide_reduces_to_a_box_filter():
    """Where the guide has no variance, a = 0 and the filter is the mean of the box mean (two boxes)."""
    rng = np.random.default_rng(1)
    src = rng.random((30, 30), dtype=np.float32)
    out = guided_filter(np.ones((30, 30), np.float32), src, 2, 1e-2)
    box = lambda x: cv2.boxFilter(x, cv2.CV_32F, (5, 5), borderType=cv2.BORDER_REFLECT)  # noqa: E731
    assert np.allclose(out, box(box(src)), atol=1e-5)


@pytest.mark.skipif(not hasattr(cv2, "ximgproc"), reason="OpenCV contrib not installed")
def test_matches_opencv_contrib_implementation():
    rng = np.random.default_rng(2)
    guide = cv2.GaussianBlur(rng.random((48, 64), dtype=np.float32), (0, 0), 2)
    src = rng.random((48, 64), dtype=np.float32)
    ours = guided_filter(guide, src, 4, 1e-3)
    ref = cv2.ximgproc.guidedFilter(guide, src, 4, 1e-3)
    # Same algorithm; borders and float summation order may differ slightly.
    assert np.abs(ours - ref)[6:-6, 6:-6].max() < 2e-3
