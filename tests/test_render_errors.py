"""Bad input to the renderer gives a clear one-line ConfigError / InputError."""
from __future__ import annotations

import numpy as np
import pytest

from genrefocus_video import render_bokeh
from genrefocus_video.errors import ConfigError, InputError

IMG = np.zeros((8, 10, 3), np.float32)
D = np.zeros((8, 10), np.float32)


@pytest.mark.parametrize("args,kw,err,match", [
    ((IMG, np.zeros((10, 8), np.float32), 0.5, 5.0), {}, InputError, r"disparity has shape \(10, 8\), expected \(8, 10\)"),
    ((IMG, np.where(np.arange(80).reshape(8, 10) == 13, np.nan, 0.0), 0.5, 5.0), {}, InputError, "NaN"),
    ((IMG, D, 0.5, -1.0), {}, ConfigError, "K must be"),
    ((IMG, D, float("nan"), 1.0), {}, ConfigError, "focus disparity"),
    ((IMG, D, 0.5, 5.0), {"aperture": "donut"}, ConfigError, "aperture shape must be one of"),
    ((IMG, D, 0.5, 5.0), {"aperture": "image", "aperture_image": np.zeros((5, 5))}, InputError, "empty"),
    ((IMG[..., :2], D, 0.5, 5.0), {}, InputError, "H×W×3"),
    ((IMG.astype(np.uint8), D, 0.5, 5.0), {}, InputError, "float"),
    ((IMG, D, 0.5, 5.0), {"blur_amount": 3}, ConfigError, "unknown render option"),
    ((IMG, D, 0.5, 5.0), {"cats_eye": 2.0}, ConfigError, "cats_eye"),
    ((IMG, D, 0.5, 5.0), {"device": "tpu"}, ConfigError, "device"),
])
def test_bad_input_is_one_clear_line(args, kw, err, match):
    with pytest.raises(err, match=match) as info:
        render_bokeh(*args, **kw)
    assert "\n" not in str(info.value)


def test_blur_beyond_the_frame_is_refused_not_allocated():
    """Raw 16-bit depth codes read as disparity would ask for a ~900k px blur: say so, do not OOM."""
    img = np.ones((24, 40, 3), np.float32)
    d = np.linspace(1656, 63271, 24 * 40, dtype=np.float32).reshape(24, 40)
    with pytest.raises(ConfigError, match="depth's units") as err:
        render_bokeh(img, d, 30000.0, 14.0)
    assert "\n" not in str(err.value)
    # The same scene in disparity units renders.
    out = render_bokeh(img, d / 65535.0, 0.5, 14.0)
    assert out.shape == img.shape and np.isfinite(out).all()
