"""A contact sheet of a finished render: frames across the clip, before | after, labelled.

For the person who checks a render (an editor, a farm wrangler) without scrubbing through it: N
evenly spaced frames, each the input beside the output as 8-bit sRGB thumbnails, under a line with
the frame number, its time and the focus disparity that frame was rendered with. It is read back
from the written output, so it shows what was delivered (after encoding), and is the same for a
single pass and a chunked farm job.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from ..errors import OutputError

THUMB_W = 320  # px per thumbnail (before or after)
LABEL_H = 22  # px of caption under each pair
GAP = 2  # px between the before and the after thumbnail


def sheet_frames(first: int, last: int, count: int) -> list[int]:
    """`count` frame indices evenly spread over first..last (fewer if the clip is shorter)."""
    n = last - first + 1
    if n <= count:
        return list(range(first, last + 1))
    return sorted({first + round(k * (n - 1) / (count - 1)) for k in range(count)}) if count > 1 else [first + n // 2]


def to_display(rgb: np.ndarray, pixel_aspect: float) -> np.ndarray:
    """Resample non-square pixels to square ones (width × pixel_aspect), as a player shows them:
    images for people must not look squeezed."""
    import cv2

    if abs(float(pixel_aspect) - 1.0) < 1e-6:
        return rgb
    h, w = rgb.shape[:2]
    w2 = max(1, round(w * float(pixel_aspect)))
    interp = cv2.INTER_AREA if w2 < w else cv2.INTER_CUBIC
    return cv2.resize(np.ascontiguousarray(rgb, dtype=np.float32), (w2, h), interpolation=interp)


def _thumb(rgb: np.ndarray, pixel_aspect: float = 1.0) -> np.ndarray:
    """Linear float RGB -> 8-bit sRGB thumbnail THUMB_W wide at the display aspect (area-averaged,
    so no aliasing)."""
    import cv2

    from ..colour import from_linear

    h, w = rgb.shape[:2]
    th = max(1, round(h * THUMB_W / (w * float(pixel_aspect))))
    small = cv2.resize(np.ascontiguousarray(rgb, dtype=np.float32), (THUMB_W, th), interpolation=cv2.INTER_AREA)
    code = np.clip(from_linear(np.clip(small, 0.0, None), "srgb"), 0.0, 1.0)
    return (code * 255.0 + 0.5).astype(np.uint8)


def compose(pairs: list[tuple[np.ndarray, np.ndarray, str]], columns: Optional[int] = None) -> np.ndarray:
    """Grid of (before, after, caption) cells as an 8-bit RGB image."""
    import cv2

    if not pairs:
        raise ValueError("a contact sheet needs at least one frame")
    columns = columns or (2 if len(pairs) >= 4 else 1)
    th = pairs[0][0].shape[0]
    cell_w, cell_h = 2 * THUMB_W + GAP + 8, th + LABEL_H + 8
    rows = -(-len(pairs) // columns)
    sheet = np.full((rows * cell_h, columns * cell_w, 3), 24, np.uint8)
    for k, (before, after, caption) in enumerate(pairs):
        r, c = divmod(k, columns)
        y, x = r * cell_h + 4, c * cell_w + 4
        sheet[y:y + th, x:x + THUMB_W] = before[:th]
        sheet[y:y + th, x + THUMB_W + GAP:x + 2 * THUMB_W + GAP] = after[:th]
        cv2.putText(sheet, caption, (x + 2, y + th + LABEL_H - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                    (235, 235, 235), 1, cv2.LINE_AA)
    return sheet


def write_contact_sheet(path: str, job: object, first: int, last: int, fps: float,
                        focus: dict[int, float]) -> str:
    """Read frames back from `job`'s input and written output and save the sheet (PNG, atomic)."""
    import cv2

    from ..io.atomic import atomic_output
    from ..io.reader import open_reader
    from .inputs import open_input

    frames = sheet_frames(first, last, int(job.output.contact_frames))  # type: ignore[attr-defined]
    pairs = []
    with open_input(job) as r_in, \
            open_reader(job.output.path, transfer="auto") as r_out:  # type: ignore[attr-defined]
        pa = float(r_in.info.pixel_aspect)
        for i in frames:
            before, after = r_in.read(i).rgb, r_out.read(i - first).rgb
            seconds = i / fps if fps else 0.0
            a = focus.get(i)
            caption = f"frame {i}  {seconds:.2f} s" + (f"  focus {a:.3f}" if a is not None else "")
            pairs.append((_thumb(before, pa), _thumb(after, pa), caption))
    img = compose(pairs)[..., ::-1]
    with atomic_output(path, overwrite=True, inputs=(job.input.path,)) as tmp:  # type: ignore[attr-defined]
        if not cv2.imwrite(tmp, img):
            raise OutputError(f"cannot write the contact sheet {path}")
    return path
