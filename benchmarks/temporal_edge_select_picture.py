"""Where does edge selection switch right and where wrong? A picture of one frame (issue 15, item 3).

Run:  .venv/bin/python benchmarks/temporal_edge_select_picture.py --seed 2 --track fixed --model edges
      --frame 20 [--strength 0.5] --out docs/images/edge_select_wrong_history_seed2.jpg

The smoother runs as the error-model grid runs it (benchmarks/temporal_error_models.smooth: DIS
medium, one frame of look-ahead) up to `--frame`; there the pixels edge selection (depth/edge_select.py)
gave the history's surface are painted on the frame: green where that moved the depth more than
0.05 in log toward the truth, red where it moved it that much away. Top: the
frame (sRGB) with the marks | the true disparity (log, grey). Bottom: the frame | the prediction
P the selection drew its surfaces from (the smoothed history warped to this frame), on the same
grey scale. Also prints per frame: disputed / switched pixels, and of those right / wrong.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import temporal_error_models as grid  # noqa: E402  (puts the repo, tests/ and lfbench on sys.path)

import genrefocus_video.depth.temporal as temporal  # noqa: E402
from depth_error_models import ERROR_MODELS  # noqa: E402
from genrefocus_video.colour import from_linear  # noqa: E402

NEAR_ENOUGH = 0.05  # log: a switch that changes |log(d / truth)| by less is neither right nor wrong


def _grey(log_d: np.ndarray, lo: float, hi: float) -> np.ndarray:
    g = ((np.clip(log_d, lo, hi) - lo) / max(hi - lo, 1e-6) * 255).astype(np.uint8)
    return cv2.cvtColor(g, cv2.COLOR_GRAY2BGR)


def verdicts(before: np.ndarray, after: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(right, wrong) masks of the pixels selection switched (`before` -> `after`): moved more than
    NEAR_ENOUGH in log toward the truth, or that much away from it."""
    e0, e1 = np.abs(np.log(before / truth)), np.abs(np.log(after / truth))
    switched = after != before
    return switched & (e1 < e0 - NEAR_ENOUGH), switched & (e1 > e0 + NEAR_ENOUGH)


def picture(rgb: np.ndarray, truth: np.ndarray, before: np.ndarray, after: np.ndarray,
            prediction: np.ndarray, zoom: int) -> np.ndarray:
    """The 2 x 2 sheet of the module doc (BGR uint8)."""
    right, wrong = verdicts(before, after, truth)
    frame = (np.clip(from_linear(np.clip(rgb, 0, 1), "srgb"), 0, 1) * 255).astype(np.uint8)[..., ::-1]
    marked = frame.copy()
    marked[wrong] = (0, 0, 255)
    marked[right] = (0, 255, 0)
    lt = np.log(truth)
    lo, hi = float(lt.min()), float(lt.max())
    sheet = np.vstack([np.hstack([marked, _grey(lt, lo, hi)]),
                       np.hstack([frame, _grey(np.log(np.maximum(prediction, 1e-6)), lo, hi)])])
    return cv2.resize(sheet, None, fx=zoom, fy=zoom, interpolation=cv2.INTER_NEAREST)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seed", type=int, default=2)
    p.add_argument("--track", default="fixed", choices=["fixed", "rack", "follow"])
    p.add_argument("--model", default="edges", choices=list(ERROR_MODELS))
    p.add_argument("--frame", type=int, default=20)
    p.add_argument("--strength", type=float, default=0.5)
    p.add_argument("--size", default="256x144")
    p.add_argument("--frames", type=int, default=24,
                   help="the clip's length (the grid's: lfbench's motion depends on it)")
    p.add_argument("--zoom", type=int, default=2)
    p.add_argument("--out", required=True, help="the picture (.jpg or .png)")
    a = p.parse_args()
    if not 0 < a.frame < a.frames:
        p.error(f"--frame {a.frame}: expected 1 .. {a.frames - 1} (--frames {a.frames})")
    with tempfile.TemporaryDirectory() as tmp:
        c = grid.make_clip(Path(tmp) / "clip", a.size, a.frames, a.seed, a.track, 8.0)
        flows = grid.clip_flows(c)
        truth = [c.disparity(t) for t in range(c.frames)]
        noisy = [ERROR_MODELS[a.model](g, t) for t, g in enumerate(truth)]
        now, written = [0], []
        select = temporal.select_edges

        def watched(rgb, d, P, **kw):
            out, info = select(rgb, d, P, **kw)
            t = now[0]
            right, wrong = verdicts(d, out, truth[t])
            print(f"frame {t}: disputed {info.disputed}, switched {info.switched}: "
                  f"right {int(right.sum())}, wrong {int(wrong.sum())}")
            if t == a.frame:
                written.append(t)
                params = [cv2.IMWRITE_JPEG_QUALITY, 85] if a.out.lower().endswith((".jpg", ".jpeg")) else []
                cv2.imwrite(a.out, picture(rgb, truth[t], d, out, P, a.zoom), params)
            return out, info

        temporal.select_edges = watched
        try:  # the loop of temporal_error_models.smooth, with the frame index kept for `watched`
            sm = temporal.TemporalDepthSmoother(a.strength)
            for t in range(a.frame + 1):
                now[0] = t
                f, v = flows[t][:2] if flows[t] is not None else (None, None)
                ahead = None if t + 1 == c.frames else grid.Ahead(noisy[t + 1], c.aif(t + 1), flows[t + 1][2],
                                                                   flows[t + 1][3])
                sm(c.aif(t), noisy[t], None, f, v, ahead=ahead)
        finally:
            temporal.select_edges = select
    if not written:
        print(f"frame {a.frame}: no edge selection ran there (the first frame, or an outlier or the frame after one)")
        return 1
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
