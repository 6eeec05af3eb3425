"""Our FLUX sampler equals the Genfocus reference's ``generate`` (issue 14), on tiny random parts.

The reference's sampling behaviour is re-stated here in the test's own code, from reading
rayray9999/Genfocus (``Genfocus/pipeline/flux.py`` and its ``Inference_*.py`` scripts):

* sigmas linspace(1, 1/steps, steps), shifted with mu from FLUX's linear formula on the token count
  of the WHOLE frame (256 tokens -> 0.5, 4096 -> 1.15), then exp(mu) / (exp(mu) + 1/s - 1), and a
  plain Euler step x += (s_next - s)·v;
* tiling only when the grid has >= 32² tokens and the short side is >= 512 FLUX px (32 tokens);
  32-token tiles, stride 28, the last one flush with the border, visited column-major; every
  branch of a tile (image and every condition) gets the fixed 32x32 grid ids, deltas dropped;
  velocities blended with exp(-(x²+y²)) on [-2, 2]²;
* untiled: the frame's grid, conditions shifted by their deltas (pre-deblur: (0, 32));
* condition branches at timestep 0 and guidance 1; LoRA scaling 1 (a LoRA loaded without alphas).

The per-branch transformer evaluation is the project's ``branch_forward`` (its equality with the
reference's ``transformer_forward`` is the untiled case); what is pinned here is everything around
it. Frame sizes are named in FLUX pixels (16 px per token); the tiny VAE is 2x, so the tiny frames
are a quarter of that.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from genrefocus_video.generative import flux as fx
from genrefocus_video.generative import loaders
from genrefocus_video.generative.tiny import tiny_components, write_genfocus_lora

FLUX_PX_PER_TOKEN = 16
PREDEBLUR = (0, 32)


# --------------------------------------------------------------------------- the reference, re-stated
def ref_mu(n_tokens: int) -> float:
    """FLUX's shift: the line through (256 tokens, 0.5) and (4096 tokens, 1.15)."""
    return 0.5 + (n_tokens - 256) * (1.15 - 0.5) / (4096 - 256)


def ref_sigmas(steps: int, n_tokens: int) -> list[float]:
    e = math.exp(ref_mu(n_tokens))
    return [e / (e + (1.0 / s - 1.0)) for s in np.linspace(1.0, 1.0 / steps, steps)] + [0.0]


def ref_tiled(th: int, tw: int) -> bool:
    """generate() tiles from 32² tokens on; the inference scripts switch it off below 512 px."""
    return th * tw >= 32 * 32 and min(th, tw) * FLUX_PX_PER_TOKEN >= 512


def ref_ids(th: int, tw: int, delta=(0, 0)) -> torch.Tensor:
    out = torch.zeros(th, tw, 3)
    out[..., 1] = torch.arange(th)[:, None] + delta[0]
    out[..., 2] = torch.arange(tw)[None, :] + delta[1]
    return out.reshape(-1, 3)


def ref_starts(n: int) -> list[int]:
    starts = list(range(0, max(1, n - 32 + 1), 28))
    return starts + [n - 32] if starts[-1] + 32 < n else starts


def ref_velocity(model, x, conds, deltas, th, tw, t, emb, guidance):
    seq, pooled = emb
    one, zero, g = torch.ones(1), torch.zeros(1), torch.tensor([guidance])

    def branches(xt, ct, ids, cids):
        br = [fx.Branch("text", seq, torch.zeros(seq.shape[1], 3), t, pooled, g, False, "text"),
              fx.Branch("image", xt, ids, t, pooled, g, False, "image")]
        return br + [fx.Branch("cond", c, i, zero, pooled, one, True, "c") for c, i in zip(ct, cids)]

    if not ref_tiled(th, tw):
        return fx.branch_forward(model, branches(x, conds, ref_ids(th, tw), [ref_ids(th, tw, d) for d in deltas]))
    grid = torch.arange(th * tw).view(th, tw)
    d = torch.linspace(-2, 2, 32)
    weight = torch.exp(-(d[:, None] ** 2 + d[None, :] ** 2)).reshape(-1)
    acc, wsum = torch.zeros_like(x), torch.zeros(th * tw)
    local = ref_ids(32, 32)
    for c0 in ref_starts(tw):  # column-major, as numpy's meshgrid(...).ravel() visits them
        for r0 in ref_starts(th):
            idx = grid[r0:r0 + 32, c0:c0 + 32].reshape(-1)
            v = fx.branch_forward(model, branches(x[:, idx], [c[:, idx] for c in conds], local, [local] * len(conds)))
            acc[:, idx] += v * weight[None, :, None]
            wsum[idx] += weight
    return acc / wsum[None, :, None]


@torch.no_grad()
def ref_generate(comp, images, deltas, *, th, tw, emb, steps, guidance, noise) -> torch.Tensor:
    vae = comp.vae
    conds = [fx.pack_latents((vae.encode(im).latent_dist.mode() - vae.config.shift_factor)
                             * vae.config.scaling_factor) for im in images]
    x = fx.pack_latents(noise)
    sig = ref_sigmas(steps, th * tw)
    for i in range(steps):
        t = torch.tensor([sig[i] * 1000.0]) / 1000.0
        v = ref_velocity(comp.transformer, x, conds, deltas, th, tw, t, emb, guidance)
        x = x + (sig[i + 1] - sig[i]) * v
    return x


# --------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def comp():
    return tiny_components(5)


def _emb(comp):
    g = torch.Generator().manual_seed(3)
    return torch.randn(1, 8, 32, generator=g), torch.randn(1, 32, generator=g)


def _case(comp, th, tw, n_cond, seed=0):
    s = comp.pixels_per_token
    g = torch.Generator().manual_seed(seed)
    images = [torch.rand(1, 3, th * s, tw * s, generator=g) * 2 - 1 for _ in range(n_cond)]
    noise = torch.randn(1, 16, th * 2, tw * 2, generator=g)
    return images, noise


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


def _ours(comp, images, deltas, th, tw, emb, noise, steps=2, guidance=3.5):
    s = comp.pixels_per_token
    conds = [fx.Condition(im, d, f"c{i}") for i, (im, d) in enumerate(zip(images, deltas))]
    res = fx.sample(comp, conds, height=th * s, width=tw * s, prompt_embeds=emb, steps=steps,
                    guidance=guidance, noise=noise)
    return fx.pack_latents(res.latents)


# --------------------------------------------------------------------------- equality with the reference
@pytest.mark.parametrize("th,tw,label", [(32, 48, "tiled 512x768"), (30, 52, "480x832, untiled")])
def test_sample_equals_the_reference_with_predeblur_branch(comp, th, tw, label):
    """DeblurNet-with-pre-deblur conditions (pre-deblur at (0, 32) + blurry at (0, 0)): ours equals
    the re-stated reference to float noise (issue 14: was 1.5e-2 / 1.7e-2 relative error)."""
    images, noise = _case(comp, th, tw, 2)
    deltas = ["predeblur", (0, 0)]
    emb = _emb(comp)
    ref = ref_generate(comp, images, [PREDEBLUR, (0, 0)], th=th, tw=tw, emb=emb, steps=2, guidance=3.5, noise=noise)
    ours = _ours(comp, images, deltas, th, tw, emb, noise)
    assert _rel(ours, ref) < 1e-5, label
    # the schedule our scheduler ran is the whole frame's (mu from th·tw tokens, tiled or not)
    assert np.allclose(comp.scheduler.sigmas.numpy(), ref_sigmas(2, th * tw), atol=1e-6)


def test_sample_with_alpha_twice_rank_lora_equals_the_reference_scaling_one(tmp_path):
    """A LoRA file whose alphas are 2·rank runs at scaling 1, as the reference's switched adapters
    (issue 14: was 4.5e-2). Reference: the same A/B weights loaded without alphas (peft scaling 1)."""
    ours_c, ref_c = tiny_components(6), tiny_components(6)
    with_alpha, plain = tmp_path / "alpha.safetensors", tmp_path / "plain.safetensors"
    write_genfocus_lora(ours_c.transformer, str(with_alpha), rank=4, seed=2, scale=0.3, alpha=8.0)
    write_genfocus_lora(ours_c.transformer, str(plain), rank=4, seed=2, scale=0.3)
    loaders.load_lora(ours_c.transformer, with_alpha, "bokehnet")
    state, _ = loaders.read_lora_state_dict(plain)
    ref_c.transformer.load_lora_adapter(state, adapter_name="ref", prefix="transformer")
    th, tw = 16, 24
    images, noise = _case(ours_c, th, tw, 2, seed=4)
    emb = _emb(ours_c)
    ref = ref_generate(ref_c, images, [(0, 0), (0, 0)], th=th, tw=tw, emb=emb, steps=2, guidance=1.0, noise=noise)
    ours = _ours(ours_c, images, [(0, 0), (0, 0)], th, tw, emb, noise, guidance=1.0)
    assert _rel(ours, ref) < 1e-5
    # and the LoRA matters at all (else the comparison would prove nothing about scaling)
    ref_c.transformer.disable_adapters()
    base = ref_generate(ref_c, images, [(0, 0), (0, 0)], th=th, tw=tw, emb=emb, steps=2, guidance=1.0, noise=noise)
    assert _rel(base, ref) > 1e-3


# --------------------------------------------------------------------------- point by point
@pytest.mark.parametrize("w,h", [(1280, 720), (1920, 1080), (3840, 2160)])
def test_mu_from_the_whole_frame_token_count(w, h):
    """mu at 720p/1080p/4K is FLUX's formula on the whole frame's padded token count (1080p: 1.84)."""
    th, tw = -(-h // FLUX_PX_PER_TOKEN), -(-w // FLUX_PX_PER_TOKEN)
    cfg = {"base_image_seq_len": 256, "max_image_seq_len": 4096, "base_shift": 0.5, "max_shift": 1.15}
    assert fx.timestep_mu(th, tw, cfg) == pytest.approx(ref_mu(th * tw), rel=1e-12)
    if h == 1080:
        assert fx.timestep_mu(th, tw, cfg) == pytest.approx(1.84, abs=0.005)


@pytest.mark.parametrize("w,h,tiled", [(640, 360, False), (854, 480, False), (832, 480, False),
                                       (768, 512, True), (1280, 720, True), (1920, 1080, True)])
def test_tiling_rule_auto_is_the_references(w, h, tiled):
    th, tw = -(-h // FLUX_PX_PER_TOKEN), -(-w // FLUX_PX_PER_TOKEN)
    assert fx.should_tile(th, tw, "auto") is tiled is ref_tiled(th, tw)
    assert fx.should_tile(th, tw, "on") and not fx.should_tile(th, tw, "off")
    with pytest.raises(ValueError, match="auto, on, off"):
        fx.should_tile(th, tw, "sometimes")


def test_tiling_switch_is_in_the_schema_for_every_face():
    from genrefocus_video.params.job import load_job

    assert load_job().backends.tiling == "auto"
    assert load_job(overrides={"backends.tiling": "off"}).backends.tiling == "off"
    with pytest.raises(Exception, match="tiling"):
        load_job(overrides={"backends.tiling": "sometimes"})


def test_tiled_ids_are_tile_local_for_the_image_and_every_condition():
    plan = fx.plan_grid(32, 48, ["predeblur", (0, 0), (5, 7)])
    assert plan.tiled
    local = ref_ids(32, 32)
    assert torch.equal(plan.ids, local)
    assert all(torch.equal(c, local) for c in plan.cond_ids)  # deltas dropped, rows/cols 0..31


def test_untiled_ids_keep_the_frame_grid_and_the_fixed_predeblur_shift():
    plan = fx.plan_grid(30, 52, ["predeblur", (0, 0)])
    assert not plan.tiled
    assert torch.equal(plan.ids, ref_ids(30, 52))
    assert torch.equal(plan.cond_ids[0], ref_ids(30, 52, PREDEBLUR))  # (0, 32) whatever the width
    assert torch.equal(plan.cond_ids[1], ref_ids(30, 52))


def test_lora_scaling_is_one_whatever_alpha(tmp_path):
    """Every LoRA-wrapped module computes base(x) + B·A·x (scaling 1) for a file with alpha = 2·rank,
    also after switching to another adapter and back."""
    c = tiny_components(7)
    a, b = tmp_path / "a.safetensors", tmp_path / "b.safetensors"
    write_genfocus_lora(c.transformer, str(a), rank=2, seed=1, alpha=4.0)
    write_genfocus_lora(c.transformer, str(b), rank=2, seed=2, alpha=1.0)
    loaders.load_lora(c.transformer, a, "deblurnet")
    loaders.load_lora(c.transformer, b, "bokehnet")
    loaders.activate_lora(c.transformer, "deblurnet")
    state, _ = loaders.read_lora_state_dict(a)
    x = torch.randn(3, c.transformer.x_embedder.base_layer.in_features)
    m = c.transformer.x_embedder
    la, lb = state["transformer.x_embedder.lora_A.weight"], state["transformer.x_embedder.lora_B.weight"]
    with torch.no_grad():
        assert torch.allclose(m(x), m.base_layer(x) + x @ la.T @ lb.T, atol=1e-5)
    wrapped = [mod for mod in c.transformer.modules() if isinstance(getattr(mod, "scaling", None), dict)]
    assert wrapped and all(mod.scaling["deblurnet"] == 1.0 for mod in wrapped)


def test_default_deblurnet_file_and_predeblur_only_on_request():
    from genrefocus_video.generative.deblurnet import DeblurNet
    from genrefocus_video.params.job import load_job
    from genrefocus_video.pipeline.stages.generative import lora_kind

    job = load_job()
    assert loaders.LORA_FILES[lora_kind(job, "deblurnet")] == "deblurNet.safetensors"
    pre = load_job(overrides={"backends.predeblur": True})
    assert loaders.LORA_FILES[lora_kind(pre, "deblurnet")] == "deblurNet_with_pre_deblur.safetensors"
    assert DeblurNet.__dataclass_fields__["with_predeblur"].default is False


def test_aperture_branch_off_unless_asked(comp):
    from genrefocus_video.generative.bokehnet import BokehNet
    from genrefocus_video.optics.aperture import make_aperture
    from genrefocus_video.params.job import load_job

    assert load_job().backends.aperture_branch is False
    frame = np.full((16, 16, 3), 0.3, np.float32)
    disp = np.tile(np.linspace(0, 1, 16, dtype=np.float32), (16, 1))
    for shape in ("disc", "hexagon", "triangle"):
        names = [c.name for c in BokehNet(comp).conditions(frame, disp, 0.5, 10.0, make_aperture(shape))]
        assert names == ["aif", "defocus"], shape


def test_one_flux_base_shared_and_adapters_switched(tmp_path):
    """The registry loads the base once for DeblurNet and BokehNet; each net activates its own
    adapter before sampling, so alternating calls give each net's own result."""
    from genrefocus_video.generative.bokehnet import BokehNet
    from genrefocus_video.generative.deblurnet import DeblurNet
    from genrefocus_video.generative.shared import FluxRegistry

    base = tiny_components(8)
    a, b = tmp_path / "deblurNet.safetensors", tmp_path / "bokehNet.safetensors"
    write_genfocus_lora(base.transformer, str(a), seed=1, scale=0.3)
    write_genfocus_lora(base.transformer, str(b), seed=2, scale=0.3)
    registry = FluxRegistry()
    load = lambda *args, **kw: base  # noqa: E731 — the tiny base stands in for from_pretrained
    s1 = registry.base(tmp_path, device=torch.device("cpu"), loader=load)
    s1.add_adapter("deblurnet", a)
    s2 = registry.base(tmp_path, device=torch.device("cpu"), loader=load)
    s2.add_adapter("bokehnet", b)
    assert s1 is s2 and registry.loads == 1 and s1.adapter_loads == 2
    c1 = s1.comp
    frame = np.random.default_rng(0).random((16, 16, 3), dtype=np.float32)
    dn = DeblurNet(c1, steps=1, adapter="deblurnet", shared=s1)
    bn = BokehNet(c1, steps=1, adapter="bokehnet", shared=s1)
    disp = np.full((16, 16), 0.2, np.float32)
    first, _ = dn(frame, seed=1)
    bn(frame, disp, 0.5, 10.0, seed=1)
    again, _ = dn(frame, seed=1)
    assert np.array_equal(first, again)  # the deblur adapter came back on
    loaders.activate_lora(c1.transformer, "bokehnet")
    wrong, _ = DeblurNet(c1, steps=1)(frame, seed=1)  # no switch: runs the bokeh adapter
    assert not np.array_equal(first, wrong)


# --------------------------------------------------------------------------- what the model sees
@pytest.mark.parametrize("transfer", ["srgb", "bt709"])
def test_model_sees_the_sources_own_code_values_and_converts_back_exactly(transfer):
    """A Rec.709 code 0.10 reaches the model as 0.10 (not sRGB-of-linear 0.16); round trip exact."""
    from genrefocus_video.colour import to_linear
    from genrefocus_video.generative.convert import from_model, to_model

    codes = np.linspace(0.0, 1.0, 11, dtype=np.float32)
    lin = np.repeat(to_linear(codes, transfer)[None, :, None], 3, axis=2)  # as the reader linearises
    seen = (to_model(lin, 1, transfer)[0, 0, 0].numpy() + 1) / 2
    assert np.allclose(seen, codes, atol=1e-6)
    back = from_model(to_model(lin, 1, transfer), 1, 11, transfer)
    assert np.allclose(back, lin, atol=1e-6)


@pytest.mark.parametrize("transfer", ["pq", "hlg"])
def test_hdr_tone_map_is_monotone_bounded_and_inverted_exactly(transfer):
    from genrefocus_video.generative.convert import hdr_peak, model_decode, model_encode

    p = hdr_peak(transfer)
    lin = np.array([0.0, 0.01, 0.18, 1.0, 0.9 * p, p], np.float32)
    enc = model_encode(lin, transfer)
    assert enc[0] == 0.0 and enc[-1] == pytest.approx(1.0, abs=1e-6) and np.all(np.diff(enc) > 0)
    assert np.allclose(model_decode(enc, transfer), lin, rtol=1e-4, atol=1e-6)


def test_k_means_the_references_k_with_metric_depth():
    """Depth in metres -> disparity 1/m: our defocus condition is the reference's
    clamp(|K·(1/z − 1/z_focus)| / 100, 0, 1) with the same K (its scripts use 15–20)."""
    from genrefocus_video.generative.bokehnet import defocus_map

    z = np.array([[0.5, 1.0, 2.0, 4.0, 100.0]], np.float32)  # metres
    k, z_focus = 15.0, 2.0
    expected = np.clip(np.abs(k * (1.0 / z - 1.0 / z_focus)) / 100.0, 0.0, 1.0)
    assert np.allclose(defocus_map(1.0 / z, 1.0 / z_focus, k), expected, atol=1e-7)
