"""Pipeline stages for all-in-focus recovery and generative bokeh.

* ``--deblur classical``: :class:`ClassicalDeblurStage` (frame stage, CPU): rec.aif = predeblur(frame).
* ``--deblur deblurnet``: :class:`DeblurNetStage` (frame stage): FLUX + Genfocus DeblurNet LoRA
  (``deblurNet.safetensors``); with ``backends.predeblur`` the pre-deblur variant
  (``deblurNet_with_pre_deblur.safetensors`` + our classical pre-deblur as auxiliary input).
* ``--bokeh bokehnet``: :class:`BokehNetStage`: FLUX + Genfocus BokehNet LoRA. With
  ``backends.noise_warp`` it is temporal (warm-up 1): the previous frame's initial noise is warped
  along the flow into this frame (:mod:`genrefocus_video.generative.warping`), and with
  ``backends.latent_warp > 0`` the sampler starts from a blend toward the previous frame's warped
  result where the flow is valid.

Chunked runs restart the noise chain at each chunk's warm-up frame (seeded by that frame's index),
so the generated fine texture of a split clip can differ from an unsplit run at chunk boundaries;
geometry, focus and everything classical are identical.

Every generative stage of a process draws its FLUX base from the process-wide registry
(:func:`genrefocus_video.generative.shared.flux_registry`): the head's deblur (stages/aif.py), the
tail's BokehNet and the focus probes' depth chains share one base, each LoRA loaded once as a
named adapter and activated per call under the base's lock.
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

from ...errors import BackendUnavailableError, ConfigError
from ...io.frame import ClipInfo
from ...params import JobParams
from ...record import FrameRecord, Stage


# --------------------------------------------------------------------------- classical
class ClassicalDeblurStage:
    """Conservative classical pre-deblur (defocus map + spatially varying deconvolution)."""

    name = "deblur_classical"
    temporal = False

    def __init__(self, options: Any = None) -> None:
        from ...deblur.classical import PreDeblurOptions

        self.options = options or PreDeblurOptions()

    def process(self, rec: FrameRecord) -> FrameRecord:
        from ...deblur.classical import predeblur

        rec.aif = predeblur(rec.frame.rgb, self.options)
        return rec


# --------------------------------------------------------------------------- components
def lora_kind(job: JobParams, kind: str) -> str:
    """The LoRA file kind a stage uses: DeblurNet's pre-deblur variant only when asked for."""
    return "deblurnet_pre" if kind == "deblurnet" and job.backends.predeblur else kind


def load_components(job: JobParams, kind: str, *, registry: Any = None) -> Any:
    """The process's shared FLUX base (generative.shared.SharedFlux) with the `kind` LoRA loaded as
    an adapter, from local weights, or a clear error. `registry`: the process-wide one by default."""
    from ...generative import loaders
    from ...generative.shared import flux_registry

    kind = lora_kind(job, kind)
    flux_path, lora_dir = loaders.resolve_paths(job.backends.flux_path, job.backends.lora_dir)
    lora = loaders.check_weights(kind, flux_path, lora_dir)
    device = loaders.pick_device(kind, allow_cpu=job.backends.device == "cpu")
    shared = (registry or flux_registry()).base(flux_path, device=device, offload=job.backends.offload)  # type: ignore[arg-type]
    shared.add_adapter(kind, lora)
    return shared


def _preflight(job: JobParams, kind: str) -> None:
    """Fail fast (before any model load) when weights or a GPU are missing."""
    from ...generative import loaders

    flux_path, lora_dir = loaders.resolve_paths(job.backends.flux_path, job.backends.lora_dir)
    loaders.check_weights(lora_kind(job, kind), flux_path, lora_dir)
    loaders.pick_device(kind, allow_cpu=job.backends.device == "cpu")


# --------------------------------------------------------------------------- DeblurNet
class DeblurNetStage:
    """Generative all-in-focus recovery (frame stage; each frame seeded by seed + index)."""

    name = "deblur_deblurnet"
    temporal = False

    def __init__(self, job: JobParams, comp: Any = None, *, with_predeblur: Optional[bool] = None,
                 tile_tokens: int = 32, registry: Any = None, transfer: str = "srgb") -> None:
        self.job = job
        self._transfer = transfer  # the clip's transfer: the model sees the source's own code values
        self._comp = comp
        self._with_pre = job.backends.predeblur if with_predeblur is None else with_predeblur
        self._tile = tile_tokens
        self._registry = registry
        self._net: Any = None

    def _ensure(self) -> Any:
        if self._net is None:
            from ...generative.deblurnet import DeblurNet

            shared = None if self._comp is not None else load_components(self.job, "deblurnet", registry=self._registry)
            b = self.job.backends
            self._net = DeblurNet(self._comp if shared is None else shared.comp, with_predeblur=bool(self._with_pre),
                                  steps=b.steps, prompt=b.prompt, tile_tokens=self._tile, tiling=b.tiling,
                                  transfer=self._transfer, shared=shared,
                                  adapter=None if shared is None else lora_kind(self.job, "deblurnet"))
        return self._net

    def process(self, rec: FrameRecord) -> FrameRecord:
        from ...deblur.classical import predeblur

        net = self._ensure()
        pre = predeblur(rec.frame.rgb) if net.with_predeblur else None
        rec.aif, _ = net(rec.frame.rgb, pre=pre, seed=self.job.backends.seed + rec.index)
        return rec


# --------------------------------------------------------------------------- BokehNet
class BokehNetStage:
    """Generative bokeh; temporal (noise/latent warping) when backends.noise_warp is on."""

    name = "bokeh_bokehnet"

    def __init__(self, job: JobParams, info: Optional[ClipInfo] = None, comp: Any = None, *,
                 k: Optional[float] = None, aperture: Any = None, tile_tokens: int = 32,
                 registry: Any = None) -> None:
        self.job = job
        self.temporal = bool(job.backends.noise_warp or job.backends.latent_warp > 0)
        self.warmup = 1 if self.temporal else 0
        self._comp = comp
        self._k = k
        self._aperture = aperture
        self._tile = tile_tokens
        self._registry = registry
        self._transfer = info.transfer if info is not None else "srgb"
        self._net: Any = None
        self.reset()

    def reset(self) -> None:
        self._prev: Optional[dict[str, Any]] = None

    def _ensure(self) -> Any:
        if self._net is None:
            from ...generative.bokehnet import BokehNet

            shared = None if self._comp is not None else load_components(self.job, "bokehnet", registry=self._registry)
            b = self.job.backends
            self._net = BokehNet(self._comp if shared is None else shared.comp, steps=b.steps, prompt=b.prompt,
                                 tile_tokens=self._tile, focus_range=float(self.job.focus.range), tiling=b.tiling,
                                 aperture_branch=bool(b.aperture_branch), transfer=self._transfer, shared=shared,
                                 adapter=None if shared is None else "bokehnet")
        return self._net

    def _flow(self, rec: FrameRecord) -> tuple[Optional[np.ndarray], Optional[np.ndarray]]:
        """Flow from this frame to the previous one (+ validity): from the record, else DIS."""
        if rec.flow_to_prev is not None:
            return rec.flow_to_prev, rec.flow_valid
        if self._prev is None or self._prev.get("rgb") is None:
            return None, None
        from ...flow import forward_backward

        flow_ab, _, valid = forward_backward(rec.sharp, self._prev["rgb"])
        return flow_ab, valid

    def process(self, rec: FrameRecord) -> FrameRecord:
        from ...generative import warping

        net = self._ensure()
        if rec.disparity is None:
            raise ConfigError(f"frame {rec.index}: BokehNet needs a disparity map (depth stage produced none)")
        a = rec.focus_disparity
        if a is None:
            raise ConfigError(f"frame {rec.index}: BokehNet needs a focus disparity (focus stage produced none)")
        k = rec.k if rec.k is not None else self._k
        if k is None:
            raise ConfigError("BokehNet needs K: set --k or a physical camera (blur.k / focal length + f-number)")
        comp = net.comp
        h, w = rec.frame.rgb.shape[:2]
        m = comp.pixels_per_token
        hp, wp = h + (-h) % m, w + (-w) % m
        s = comp.vae_scale_factor
        shape = (comp.transformer.config.in_channels // 4, hp // s, wp // s)
        seed = self.job.backends.seed
        noise = warping.fresh_noise(shape, seed, rec.index)
        init, strength = None, 0.0
        prev = self._prev
        if self.temporal and prev is not None and prev["index"] == rec.index - 1 and prev["shape"] == shape:
            flow, valid = self._flow(rec)
            if flow is not None:
                from ...generative.convert import pad_map

                fl = warping.resize_flow(pad_map(flow.astype(np.float32), m), shape[1], shape[2])
                val = None if valid is None else warping.resize_mask(pad_map(valid.astype(np.float32), m),
                                                                      shape[1], shape[2])
                inside = warping.flow_inside(fl)
                val = inside if val is None else val * inside
                if self.job.backends.noise_warp:
                    noise = warping.warp_noise(prev["noise"], fl, val, seed=seed, frame=rec.index)
                if self.job.backends.latent_warp > 0 and prev.get("latents") is not None:
                    init = warping.warp_latents(prev["latents"], fl)
                    strength = (self.job.backends.latent_warp * val)[None, None].astype(np.float32)
        out, res = net(rec.sharp, rec.disparity, float(a), float(k), aperture=self._aperture, seed=seed,
                       noise=noise, init_latents=init, init_strength=strength,
                       focus_range=rec.focus_range if rec.focus_range is not None else float(self.job.focus.range))
        rec.output = out
        if self.temporal:
            self._prev = {"index": rec.index, "shape": shape, "noise": res.noise[0].numpy(),
                          "latents": res.latents[0].numpy(), "rgb": rec.sharp}
        return rec


# --------------------------------------------------------------------------- builders
def build_deblur_stage(job: JobParams, info: ClipInfo, *, registry: Any = None) -> Optional[Stage]:
    """The stage that fills rec.aif, or None for ``--deblur none``."""
    kind = job.backends.deblur
    if kind == "none":
        return None
    if kind == "classical":
        return ClassicalDeblurStage()
    if kind == "deblurnet":
        _preflight(job, "deblurnet")
        return DeblurNetStage(job, registry=registry, transfer=info.transfer if info is not None else "srgb")
    raise ConfigError(f"backends.deblur must be none, classical or deblurnet, got {kind!r}")


def _aperture_from_job(job: JobParams, info: Optional[ClipInfo] = None) -> Any:
    """The aperture BokehNet is conditioned on, rasterised for the clip's pixel aspect (its kernel
    atlas shows the stored-pixel shape that is round on the display): render.options, as the
    classical renderer reads it (our own module: an ImportError is a broken install, not swallowed)."""
    from ...render.options import job_aperture

    return job_aperture(job.aperture, float(info.pixel_aspect) if info is not None else None)


def _k_from_job(job: JobParams, info: ClipInfo) -> float:
    """K as the classical renderer resolves it; a missing K is a ConfigError when the stage is built.

    With metric depth (a depth pass in metres or a metric estimator, disparity = 1/m) K means the
    reference's K (Genfocus uses 15-20); see docs/generative.md for relative depth.
    """
    from .render import resolve_k  # our own module: an ImportError must not be swallowed

    return resolve_k(job, info)


def build_bokehnet_stage(job: JobParams, info: ClipInfo, *, registry: Any = None) -> Stage:
    """BokehNet stage (temporal with warm-up 1 when noise/latent warping is on)."""
    k, aperture = _k_from_job(job, info), _aperture_from_job(job, info)  # settings before weights
    _preflight(job, "bokehnet")
    return BokehNetStage(job, info, k=k, aperture=aperture, registry=registry)


__all__ = ["BackendUnavailableError", "BokehNetStage", "ClassicalDeblurStage", "DeblurNetStage",
           "build_bokehnet_stage", "build_deblur_stage", "load_components"]
