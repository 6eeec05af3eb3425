"""One FLUX base per process: a registry that DeblurNet and BokehNet both draw from.

FLUX.1-dev is ~31 GiB in bf16; a job with generative deblur and generative bokeh must not hold it
twice. The Genfocus demo keeps one ``FluxPipeline`` and swaps the LoRA in and out per task; here
each LoRA file is injected once as a named peft adapter on the one transformer and *activated*
per call (``set_adapters`` + unit scaling, :func:`.loaders.activate_lora`), which gives each net
the same result as a base of its own (tests/test_generative_shared.py).

* :class:`FluxRegistry` holds the loaded bases of a process, keyed by (resolved folder, dtype,
  device, offload); :func:`flux_registry` is the process-wide instance every stage uses, so the
  head's deblur (stages/aif.py), the tail's BokehNet and the focus probes' depth chains share one
  base wherever they are built. ``loads`` counts real loads.
* :class:`SharedFlux` is one base with its adapters. :meth:`SharedFlux.using` is the only way a
  net samples from it: it takes the base's lock, activates the net's adapter and holds the lock
  for the whole sampling run (prompt encoding, VAE, denoising, scheduler state), because the
  adapter choice, the scheduler's timesteps and offloaded modules' placement are state of the
  one shared model. Two stages on two threads (the overlap executor runs the tail on a worker
  thread) therefore take turns, frame by frame; ``wait_s`` says how long callers waited.
"""
from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import torch

from ..errors import InputError
from .flux import FluxComponents

BaseKey = tuple[str, str, str, bool]


def _default_dtype(device: torch.device) -> torch.dtype:
    """FLUX's working dtype: bf16 on CUDA, float32 elsewhere (as loaders.load_flux chooses)."""
    return torch.bfloat16 if device.type == "cuda" else torch.float32


class SharedFlux:
    """One loaded FLUX base and the LoRA adapters injected into it (name -> file)."""

    def __init__(self, comp: FluxComponents, key: BaseKey) -> None:
        self.comp = comp
        self.key = key
        self.adapters: dict[str, str] = {}
        self.adapter_loads = 0  # LoRA files injected (each adapter once)
        self.switches = 0  # activations that changed the active adapter
        self.wait_s = 0.0  # seconds callers waited for the lock (the price of one base for two stages)
        self._active: Optional[str] = None
        self._lock = threading.RLock()

    def add_adapter(self, name: str, lora: Path) -> None:
        """Inject `lora` as adapter `name` once; a second file under the same name is refused."""
        from .loaders import load_lora

        with self._lock:
            known = self.adapters.get(name)
            if known is not None:
                if known != str(lora):
                    raise InputError(f"LoRA adapter '{name}' is already {known}; cannot also load {lora}")
                return
            load_lora(self.comp.transformer, Path(lora), name)
            self.adapters[name] = str(lora)
            self.adapter_loads += 1
            self._active = name

    @contextmanager
    def using(self, adapter: Optional[str]) -> Iterator[FluxComponents]:
        """The base with `adapter` active (None: as it is), exclusively for the caller's block."""
        from .loaders import activate_lora

        t0 = time.perf_counter()
        with self._lock:
            self.wait_s += time.perf_counter() - t0
            if adapter is not None:
                if adapter not in self.adapters:
                    raise InputError(f"LoRA adapter '{adapter}' was never loaded into this FLUX base")
                activate_lora(self.comp.transformer, adapter)  # every call: others may have switched it
                self.switches += adapter != self._active
                self._active = adapter
            yield self.comp


class FluxRegistry:
    """The FLUX bases loaded in this process, one per (folder, dtype, device, offload)."""

    def __init__(self) -> None:
        self._bases: dict[BaseKey, SharedFlux] = {}
        self._lock = threading.Lock()
        self.loads = 0  # real loads (from_pretrained of a whole base)

    @staticmethod
    def key(flux_path: Path, device: torch.device, dtype: Optional[torch.dtype], offload: bool) -> BaseKey:
        dt = dtype if dtype is not None else _default_dtype(device)
        return (str(Path(flux_path).expanduser().resolve()), str(dt), str(device), bool(offload))

    def base(self, flux_path: Path, *, device: torch.device, dtype: Optional[torch.dtype] = None,
             offload: bool = False, loader: Optional[Callable[..., FluxComponents]] = None) -> SharedFlux:
        """The shared base for these settings, loaded on first request (concurrent requests wait)."""
        from .loaders import load_flux

        key = self.key(flux_path, device, dtype, offload)
        with self._lock:
            hit = self._bases.get(key)
            if hit is None:
                dt = dtype if dtype is not None else _default_dtype(device)
                comp = (loader or load_flux)(Path(flux_path), device=device, dtype=dt, offload=offload)
                hit = self._bases[key] = SharedFlux(comp, key)
                self.loads += 1
            return hit

    def bases(self) -> list[SharedFlux]:
        with self._lock:
            return list(self._bases.values())

    def stats(self) -> dict[str, Any]:
        """Loads, and per base its adapters, adapter loads, switches and lock wait (for reports)."""
        return {"loads": self.loads, "bases": [
            {"key": list(b.key), "adapters": sorted(b.adapters), "adapter_loads": b.adapter_loads,
             "switches": b.switches, "wait_s": round(b.wait_s, 4)} for b in self.bases()]}

    def clear(self) -> None:
        """Forget every base (their memory is freed once no net holds them) and restart the count."""
        with self._lock:
            self._bases.clear()
            self.loads = 0


_PROCESS_REGISTRY = FluxRegistry()


def flux_registry() -> FluxRegistry:
    """The process-wide registry (each Ray worker process has its own)."""
    return _PROCESS_REGISTRY


@contextmanager
def sampling(comp: FluxComponents, shared: Optional[SharedFlux], adapter: Optional[str]) -> Iterator[FluxComponents]:
    """A net's sampling block: through the shared base's lock when it has one; else the net's own
    components with its adapter activated (a net built over components given directly)."""
    if shared is not None:
        with shared.using(adapter) as c:
            yield c
        return
    if adapter is not None:
        from .loaders import activate_lora

        activate_lora(comp.transformer, adapter)
    yield comp


def sample_net(net: Any, conds: list, height: int, width: int, *, seed: int, noise: Any, init_latents: Any,
               init_strength: Any, prompt_embeds: Any = None) -> Any:
    """One sampling run of a net (DeblurNet, BokehNet) on its base, its adapter on for the whole run
    (:func:`sampling`); numpy noise / init latents (C x h x w) become the sampler's batch-of-one tensors."""
    from .flux import sample

    with sampling(net.comp, net.shared, net.adapter):
        return sample(net.comp, conds, height=height, width=width, prompt_embeds=prompt_embeds or net.embeddings(),
                      steps=net.steps, guidance=net.guidance, seed=seed,
                      noise=None if noise is None else torch.from_numpy(noise)[None],
                      init_latents=None if init_latents is None else torch.from_numpy(init_latents)[None],
                      init_strength=init_strength, tile_tokens=net.tile_tokens, tile=net.tiling)
