"""Depth previews of the real clips in ../shared/data, one per depth source that runs here, for
docs/temporal.md "Which depth source for which footage" (docs/images/depth_sources/*.png).

    .venv/bin/python benchmarks/depth_source_previews.py [--images docs/images/depth_sources]

Each case is the real CLI (`genrefocus-video render ... --depth-preview P.mp4 --depth-out D.%04d.exr`)
on a real clip; the PNG is the preview video's middle frame (frame | turbo-coloured disparity,
red = near, colour range = the first frame's 1st-99th percentile), scaled to 960 px wide and stored
with a 256-colour palette (so each PNG stays under 200 KB):

* rgbd_file     rgbd_open3d, `--depth depth/%05d.png --depth-kind depth --depth-scale 0.001` (the
                sensor's millimetres; holes = 0 are filled from the nearest valid pixel);
* rgbd_motion   rgbd_open3d colour frames, `--depth-source motion` (moving camera);
* meridian_motion  Meridian (HDR10 ProRes, camera nearly still), `--depth-source motion`; the first
                frame where it finds too little parallax and falls back to the defocus cue (the
                log names it) is saved too, as meridian_motion_fallback.png.

`model` and `marigold` need local weights, which this machine does not have: no image is made.
Printed per case: the CLI's warnings, the depth stages' ms per frame (from the job report; absolute
and so load-dependent: for orders of magnitude only), and for rgbd_motion the scale-aligned AbsRel of the used
disparity against the sensor depth on the preview frame (metric check, holes excluded).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("GENREFOCUS_SHARED", REPO.parent / "shared"))
sys.path.insert(0, str(REPO))

from genrefocus_video.cli import main  # noqa: E402
from genrefocus_video.io.depthio import open_depth  # noqa: E402

RGBD = SHARED / "data" / "rgbd_open3d"
MERIDIAN = SHARED / "data" / "meridian" / "Meridian-Apple_ProResProxy-HDR10.mp4"
STILL = 2  # the middle of the 5-frame clips
WIDTH = 960
CASES = {
    "rgbd_file": (str(RGBD / "color" / "%05d.jpg"),
                  ["--depth", str(RGBD / "depth" / "%05d.png"), "--depth-kind", "depth", "--depth-scale", "0.001"]),
    "rgbd_motion": (str(RGBD / "color" / "%05d.jpg"), ["--depth-source", "motion"]),
    "meridian_motion": (str(MERIDIAN), ["--depth-source", "motion"]),
}


class Warnings(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def preview_frame(path: str, index: int) -> np.ndarray:
    import av

    with av.open(path) as c:
        for i, f in enumerate(c.decode(video=0)):
            if i == index:
                return f.to_ndarray(format="rgb24")
    raise RuntimeError(f"{path}: no frame {index}")


def save_still(preview: str, index: int, out: Path) -> str:
    """Frame `index` of the preview video as a 960 px wide palette PNG (<= 200 KB for the docs)."""
    img = preview_frame(preview, index)
    h, w = img.shape[:2]
    img = cv2.resize(img, (WIDTH, int(round(h * WIDTH / w))), interpolation=cv2.INTER_AREA)
    Image.fromarray(img).quantize(256, dither=Image.Dither.NONE).save(out, optimize=True)
    return f"{out.name} (frame {index}, {out.stat().st_size // 1024} KB)"


def sensor_absrel(used: np.ndarray, index: int) -> float:
    """Scale-aligned AbsRel in depth of the used disparity against the sensor's depth (holes excluded)."""
    z = cv2.imread(str(RGBD / "depth" / f"{index:05d}.png"), cv2.IMREAD_UNCHANGED).astype(np.float32) / 1000
    ok = z > 0
    zp = 1.0 / np.maximum(used[ok], 1e-6)
    s = np.median(z[ok] / zp)
    return float(np.mean(np.abs(s * zp - z[ok]) / z[ok]))


def run_case(name: str, src: str, extra: list[str], images: Path, tmp: Path) -> None:
    preview, used = tmp / f"{name}.mp4", tmp / name / "d.%04d.exr"
    used.parent.mkdir()
    handler = Warnings()
    logging.getLogger().addHandler(handler)
    try:
        rc = main(["render", src, "-o", str(tmp / f"{name}.mkv"), "--codec", "ffv1", "--k", "4", "--executor", "local",
                   "--no-progress", "--depth-preview", str(preview), "--depth-out", str(used), *extra])
    finally:
        logging.getLogger().removeHandler(handler)
    if rc != 0:
        raise SystemExit(f"{name}: the CLI exited {rc}")
    saved = [save_still(str(preview), STILL, images / f"{name}.png")]
    fell_back = [int(m.group(1)) for line in handler.lines if (m := re.match(r"frame (\d+): .*defocus-cue", line))]
    if fell_back:  # the first frame the motion source gave up on: the static-camera fallback's picture
        saved.append(save_still(str(preview), fell_back[0], images / f"{name}_fallback.png"))
    with open_depth(str(used), kind="disparity") as seq:
        d = list(seq)[STILL]
    print(f"{name}: {', '.join(saved)}; used disparity at frame {STILL}: "
          f"{np.percentile(d, 1):.3g}..{np.percentile(d, 99):.3g} (1-99 %)")
    report = json.loads((tmp / f"{name}.mkv.work" / "report.json").read_text())
    depth = [f"{r['stage']} {r['ms_per_frame']:.0f} ms" for r in report["stages"] if r["stage"].startswith("depth")]
    print(f"  per frame ({os.getloadavg()[0]:.1f} load, 2 cores): {', '.join(depth)}")
    if name == "rgbd_motion":
        print(f"  scale-aligned AbsRel vs the sensor depth at frame {STILL}: {sensor_absrel(d, STILL):.3f}")
    for line in dict.fromkeys(handler.lines):
        print(f"  warning: {line}")


def main_cli() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", default=str(REPO / "docs" / "images" / "depth_sources"))
    args = ap.parse_args()
    if not RGBD.is_dir() or not MERIDIAN.is_file():
        raise SystemExit(f"../shared/data not found at {SHARED / 'data'}")
    images = Path(args.images)
    images.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for name, (src, extra) in CASES.items():
            run_case(name, src, extra, images, Path(tmp))


if __name__ == "__main__":
    main_cli()
