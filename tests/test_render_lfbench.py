"""Ground truth: on small lfbench scenes the layered renderer beats per-pixel gather and scatter."""
from __future__ import annotations

import math

import numpy as np


def _case(lfb, seed, focus_name, shape, W=160, H=120, k=12.0):
    from lfbench import metrics as lfm
    from lfbench.render import Aperture, layer_maps, render_refocus, render_view
    from lfbench.scene import build_scene

    scene = build_scene(seed, W, H, int(math.ceil(k)) + 4)
    cards = sorted((L for L in scene.layers if L.kind != "lights"), key=lambda L: L.disparity)
    focus = cards[0].disparity if focus_name == "background" else cards[-1].disparity
    ap = Aperture.from_spec(shape)
    aif = render_view(scene.layers, (W, H))
    disp, _front, cov = layer_maps(scene.layers, (W, H))
    gt, info = render_refocus(scene.layers, (W, H), focus, k, ap, 1500)
    matte = np.clip(sum(c for uid, c in cov.items() if uid != 0), 0, 1).astype(np.float32)
    band = lfm.boundary_band(lfm.discontinuities(disp, matte), info["max_blur_px"])
    return aif, disp, gt, focus, k, band, ap.image()


def test_layered_beats_gather_and_scatter_on_lfbench(lfbench):
    from lfbench import metrics as lfm
    from lfbench.io import srgb_encode

    from genrefocus_video import render_bokeh
    from genrefocus_video.optics import make_aperture
    from genrefocus_video.render.baselines import naive_gather, normalised_scatter

    scores = {"ours": [], "gather": [], "scatter": []}
    for seed, focus, shape in ((3, "background", "disc"), (4, "near", "heart")):
        aif, disp, gt, a, k, band, ap_img = _case(lfbench, seed, focus, shape)
        ap = make_aperture("disc") if shape == "disc" else make_aperture("image", image=ap_img)
        r = (k * (disp - a)).astype(np.float32)
        g = srgb_encode(gt)
        preds = {"ours": render_bokeh(aif, disp, a, k, ap), "gather": naive_gather(aif, r, ap),
                 "scatter": normalised_scatter(aif, r, ap)}
        for name, pred in preds.items():
            p = srgb_encode(pred)
            scores[name].append((lfm.psnr(g, p), lfm.psnr(g, p, band)))
    mean = {n: np.mean(v, axis=0) for n, v in scores.items()}
    for base in ("gather", "scatter"):
        assert mean["ours"][0] > mean[base][0] + 0.3, (mean, base)
        assert mean["ours"][1] > mean[base][1] + 0.3, (mean, base)
