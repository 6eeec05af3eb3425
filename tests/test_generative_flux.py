"""Multi-condition FLUX on tiny random components: branches, position ids, masking, LoRA, tiling.

Everything runs on CPU (or CUDA when present: benchmarks/gpu_check.sh sets GENREFOCUS_TEST_DEVICE)
with FLUX-shaped models built from configs — no downloads, no weights.
"""
from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from genrefocus_video.errors import BackendUnavailableError, InputError
from genrefocus_video.generative import flux as fx
from genrefocus_video.generative import loaders
from genrefocus_video.generative.bokehnet import BokehNet, defocus_map
from genrefocus_video.generative.deblurnet import DeblurNet
from genrefocus_video.generative.tiny import tiny_components, write_genfocus_lora

DEVICE = os.environ.get("GENREFOCUS_TEST_DEVICE", "cpu")
DTYPE = torch.bfloat16 if os.environ.get("GENREFOCUS_TEST_BF16") else torch.float32


@pytest.fixture(scope="module")
def comp():
    return tiny_components(0, device=DEVICE, dtype=DTYPE)


def _prompt(comp):
    return fx.encode_prompt(comp, "a sharp photo")


def _branches(comp, th=4, tw=4, conds=2, seed=0, lora=True):
    g = torch.Generator().manual_seed(seed)
    seq, pooled = _prompt(comp)
    dev, dt = comp.device, comp.dtype
    t = torch.tensor([0.6], device=dev)
    gd = torch.tensor([3.5], device=dev)
    br = [fx.Branch("text", seq, torch.zeros(seq.shape[1], 3, device=dev), t, pooled, gd, False, "text"),
          fx.Branch("image", torch.randn(1, th * tw, 64, generator=g).to(dev, dt), fx.grid_ids(th, tw, device=dev),
                    t, pooled, gd, False, "image")]
    for i in range(conds):
        br.append(fx.Branch("cond", torch.randn(1, th * tw, 64, generator=g).to(dev, dt),
                            fx.grid_ids(th, tw, (0, 32 * i), device=dev), torch.zeros(1, device=dev), pooled,
                            torch.ones(1, device=dev), lora, f"c{i}"))
    return br


def test_branch_forward_equals_diffusers_forward_for_text_and_image(comp):
    """With only the text and image branches the custom forward IS FluxTransformer2DModel.forward."""
    br = _branches(comp, conds=0)
    with torch.no_grad():
        ours = fx.branch_forward(comp.transformer, br)
        ref = comp.transformer(hidden_states=br[1].tokens, encoder_hidden_states=br[0].tokens,
                               pooled_projections=br[0].pooled, timestep=br[1].timestep, img_ids=br[1].ids,
                               txt_ids=br[0].ids, guidance=br[1].guidance, return_dict=False)[0]
    tol = 1e-5 if DTYPE == torch.float32 else 3e-2
    assert torch.allclose(ours.float(), ref.float(), atol=tol, rtol=tol)


def _xy(ids: torch.Tensor) -> set:
    return {(int(r), int(c)) for r, c in ids[:, 1:].round().long().tolist()}


@pytest.mark.parametrize("th,tw", [(4, 4), (8, 40), (30, 52)])
def test_untiled_predeblur_grid_is_the_fixed_0_32_shift(th, tw):
    """Untiled, the reference's pre-deblur script shifts the pre-deblur grid by (0, 32) whatever
    the width (so a frame wider than 32 tokens overlaps it); the blurry input keeps the image grid."""
    plan = fx.plan_grid(th, tw, ["predeblur", (0, 0)], tile="off")
    pre, blurry = plan.cond_ids
    assert torch.equal(blurry, plan.ids)
    assert torch.equal(pre[:, 1], plan.ids[:, 1]) and torch.equal(pre[:, 2], plan.ids[:, 2] + 32)


def test_group_mask_blocks_condition_to_condition_only():
    m = fx.group_mask(["text", "image", "cond", "cond", "cond"])
    assert m[:2].all() and m[:, :2].all()
    assert torch.equal(m[2:, 2:], torch.eye(3, dtype=torch.bool))


@pytest.mark.parametrize("layers,single", [(1, 0), (0, 1)])
def test_condition_branch_cannot_attend_to_another_branch(layers, single):
    """Perturbing branch B leaves branch A's hidden states unchanged after a block (dual and single
    stream), while the image branch — which may attend to both — does change."""
    c = tiny_components(3, layers=layers, single_layers=single, device=DEVICE, dtype=DTYPE)
    br = _branches(c, conds=2)
    with torch.no_grad():
        _, hs = fx.branch_forward(c.transformer, br, return_hidden=True)
        br2 = list(br)
        b = br[3]
        br2[3] = fx.Branch(b.kind, b.tokens + 3.0 * torch.randn_like(b.tokens), b.ids, b.timestep, b.pooled,
                           b.guidance, b.lora, b.name)
        _, hs2 = fx.branch_forward(c.transformer, br2, return_hidden=True)
    assert torch.equal(hs[2], hs2[2]), "condition A saw condition B"
    assert not torch.equal(hs[3], hs2[3])
    assert (hs[1] - hs2[1]).abs().max() > 1e-4, "the image branch should see condition B"


@pytest.mark.parametrize("layers,single", [(1, 0), (0, 1)])
def test_genfocus_lora_file_changes_only_condition_branches(tmp_path, layers, single):
    """A LoRA in the Genfocus key layout loads through peft/diffusers; in the first block (dual or
    single stream: same inputs before and after loading) the text/image projections are the frozen
    model's while the condition branch's change; without condition branches nothing changes."""
    c = tiny_components(5, layers=layers, single_layers=single, device=DEVICE, dtype=DTYPE)
    path = tmp_path / "deblurNet.safetensors"
    n = write_genfocus_lora(c.transformer, str(path), rank=4, scale=0.3)
    assert n == 1 + 6 * layers + 6 * single  # x_embedder + 6 per dual block + 6 per single block
    br = _branches(c, conds=1)
    with torch.no_grad():
        before_trace: dict = {}
        out0, hs0 = fx.branch_forward(c.transformer, br, trace=before_trace, return_hidden=True)
        out0_plain = fx.branch_forward(c.transformer, br[:2])
    loaders.load_lora(c.transformer, path, "deblurnet")
    assert hasattr(c.transformer.x_embedder, "base_layer")  # peft injected the adapter
    with torch.no_grad():
        after_trace: dict = {}
        out1, hs1 = fx.branch_forward(c.transformer, br, trace=after_trace, return_hidden=True)
        out1_plain = fx.branch_forward(c.transformer, br[:2])
    assert torch.equal(out0_plain, out1_plain), "LoRA leaked into a run without condition branches"
    for tag in ("double0" if layers else "single0",):
        for b0, b1 in zip(before_trace[tag], after_trace[tag]):
            same = all(torch.equal(b0[x], b1[x]) for x in ("q", "k", "v"))
            if b0["kind"] == "cond":
                assert not same, f"{tag}: the LoRA did not act on the condition branch"
            else:
                assert same, f"{tag}: the LoRA changed the {b0['kind']} branch's projections"
    assert not torch.equal(hs0[2], hs1[2])


def test_lora_loader_rejects_pickles_and_foreign_files(tmp_path):
    bad = tmp_path / "bokehNet.bin"
    bad.write_bytes(b"not a safetensors file")
    with pytest.raises(InputError, match="safetensors"):
        loaders.read_lora_state_dict(bad)


def test_tiled_apply_partition_of_unity():
    """Tiling a token-wise function of (token, condition) reproduces the untiled result exactly:
    blending weights sum right and tile indices map back to their tokens."""
    th, tw = 11, 23
    lat = torch.randn(1, th * tw, 4)
    cond = [torch.randn(1, th * tw, 4)]

    def fn(x, i, cs, ci):
        assert i.shape[0] == x.shape[1] and torch.equal(ci[0], i)  # tile-local ids, same for the condition
        return x * 2 + cs[0] * 0.5

    full = fn(lat, fx.grid_ids(th, tw), cond, [fx.grid_ids(th, tw)])
    for tile, ov in [(4, 1), (8, 2), (5, 3)]:
        plan = fx.plan_grid(th, tw, [(0, 0)], tile, tile="on", overlap_tokens=ov)
        tiled = fx.tiled_apply(fn, lat, plan, cond, th, tw)
        assert torch.allclose(tiled, full, atol=1e-5)
    w = fx.tile_window(8, 8).view(8, 8)
    assert float(w.min()) > 0 and float(w.max()) == pytest.approx(float(w[3:5, 3:5].max()))


def test_sampling_tiled_equals_untiled_when_one_tile_covers_and_blends_smoothly(comp):
    img = torch.rand(1, 3, 32, 32) * 2 - 1
    emb = _prompt(comp)
    kw = dict(height=32, width=32, prompt_embeds=emb, steps=2, seed=3)
    a = fx.sample(comp, [fx.Condition(img)], tile=False, **kw)
    b = fx.sample(comp, [fx.Condition(img)], tile=True, tile_tokens=8, **kw)
    assert torch.equal(a.image, b.image)  # one tile covering the frame: the same ids, the same mu
    # A frame 2.5 tiles wide: tiled sampling runs, and the blended velocity has no seam: the jump
    # across tile borders is no larger than elsewhere (compared on the final latents).
    wide = torch.rand(1, 3, 32, 80) * 2 - 1
    r = fx.sample(comp, [fx.Condition(wide)], height=32, width=80, prompt_embeds=emb, steps=2, seed=1,
                  tile_tokens=8, overlap_tokens=2, tile="on")
    lat = r.latents[0].float()
    col_jump = (lat[:, :, 1:] - lat[:, :, :-1]).abs().mean(dim=(0, 1))
    borders = [2 * s for s in fx.tile_starts(20, 8, 2)[1:]]  # latent columns where a tile starts
    assert np.isfinite(lat.numpy()).all()
    assert float(col_jump[[b - 1 for b in borders]].max()) < 1.5 * float(col_jump.median())


def test_deblurnet_and_bokehnet_run_end_to_end_and_repeat_with_seed(comp):
    rng = np.random.default_rng(0)
    frame = rng.random((30, 36, 3), dtype=np.float32) * 0.8  # not a multiple of the token size
    dn = DeblurNet(comp, with_predeblur=True, steps=2)
    aif, res = dn(frame, pre=frame, seed=7)
    assert aif.shape == frame.shape and aif.dtype == np.float32 and np.isfinite(aif).all()
    aif2, _ = dn(frame, pre=frame, seed=7)
    assert np.array_equal(aif, aif2)
    aif3, _ = dn(frame, pre=frame, seed=8)
    assert not np.array_equal(aif, aif3)
    steered, _ = DeblurNet(comp, with_predeblur=True, steps=2, prompt="the detail of the photo")(frame, pre=frame,
                                                                                                 seed=7)
    assert not np.array_equal(aif, steered)  # --prompt reaches the text branch

    disp = np.tile(np.linspace(0, 1, 36, dtype=np.float32), (30, 1))
    bn = BokehNet(comp, steps=2, aperture_branch=True)
    conds = bn.conditions(frame, disp, 0.5, 20.0)
    assert [c.name for c in conds] == ["aif", "defocus", "aperture"]
    out, res = bn(frame, disp, 0.5, 20.0, seed=1)
    assert out.shape == frame.shape and np.isfinite(out).all()
    assert res.noise.shape == (1, 16, 16, 18)  # padded 32x36 px, 2x VAE


def test_defocus_map_is_genfocus_normalised():
    d = np.array([[0.0, 0.5, 1.0, 10.0]], np.float32)
    m = defocus_map(d, 0.5, 40.0)
    assert np.allclose(m, [[0.2, 0.0, 0.2, 1.0]])  # |40·(d − 0.5)| / 100, clamped


def test_missing_weights_name_the_classical_fallback(tmp_path, monkeypatch):
    monkeypatch.delenv(loaders.ENV_FLUX, raising=False)
    monkeypatch.delenv(loaders.ENV_LORA, raising=False)
    with pytest.raises(BackendUnavailableError, match="--deblur classical"):
        loaders.check_weights("deblurnet", None, None)
    with pytest.raises(BackendUnavailableError, match="--bokeh classical"):
        loaders.check_weights("bokehnet", tmp_path, tmp_path)
    monkeypatch.setenv(loaders.ENV_FLUX, str(tmp_path / "flux"))
    assert loaders.resolve_paths(None, None)[0] == tmp_path / "flux"
    assert loaders.resolve_paths("/x", None)[0].as_posix() == "/x"


def test_load_flux_from_local_diffusers_folder(comp, tmp_path):
    """from_pretrained on a local folder (safetensors): the loaded model reproduces the original."""
    root = tmp_path / "flux"
    comp.transformer.save_pretrained(root / "transformer", safe_serialization=True)
    comp.vae.save_pretrained(root / "vae", safe_serialization=True)
    comp.scheduler.save_pretrained(root / "scheduler")
    comp.text_encoder.save_pretrained(root / "text_encoder", safe_serialization=True)
    comp.tokenizer.save_pretrained(root / "tokenizer")
    comp.text_encoder_2.save_pretrained(root / "text_encoder_2", safe_serialization=True)
    comp.tokenizer_2.save_pretrained(root / "tokenizer_2")
    loaded = loaders.load_flux(root, device=torch.device(DEVICE), dtype=DTYPE)
    loaded.max_sequence_length = comp.max_sequence_length
    e0, p0 = fx.encode_prompt(comp, "a sharp photo")
    e1, p1 = fx.encode_prompt(loaded, "a sharp photo")
    assert torch.equal(e0, e1) and torch.equal(p0, p1)
    img = torch.rand(1, 3, 32, 32) * 2 - 1
    a = fx.sample(comp, [fx.Condition(img)], height=32, width=32, prompt_embeds=(e0, p0), steps=1)
    b = fx.sample(loaded, [fx.Condition(img)], height=32, width=32, prompt_embeds=(e1, p1), steps=1)
    for name in ("transformer", "vae"):
        sa, sb = getattr(comp, name).state_dict(), getattr(loaded, name).state_dict()
        bad = [k for k in sa if not torch.equal(sa[k].cpu(), sb[k].cpu())]
        assert not bad, (name, bad[:5])
    assert torch.allclose(a.image, b.image, atol=1e-5), float((a.image - b.image).abs().max())
    lora_dir = tmp_path / "loras"
    lora_dir.mkdir()
    with pytest.raises(BackendUnavailableError, match="bokehNet.safetensors"):
        loaders.check_weights("bokehnet", root, lora_dir)
    write_genfocus_lora(loaded.transformer, str(lora_dir / "bokehNet.safetensors"))
    assert loaders.check_weights("bokehnet", root, lora_dir).name == "bokehNet.safetensors"


def test_aperture_branch_draws_the_shape_upright_behind_and_rotated_in_front(comp):
    """Shaped bokeh condition: behind the focus plane the PSF is the aperture upright, in front it
    is rotated 180° (DESIGN.md), one kernel per cell; the branch (at the (0, 32) grid) is opt-in
    only: a shaped aperture alone never switches it on (untrained with the published LoRA)."""
    from genrefocus_video.generative.bokehnet import aperture_image
    from genrefocus_video.optics.aperture import make_aperture

    tri = make_aperture("triangle")
    disp = np.zeros((16, 32), np.float32)
    disp[:, 16:] = 1.0  # left half behind a = 0.5, right half in front
    img = aperture_image(tri, disp, 0.5, 10.0, cell=16)
    left, right = img[:, :16], img[:, 16:]
    assert left.max() == pytest.approx(1.0) and right.max() == pytest.approx(1.0)
    assert not np.allclose(left, left[::-1, :])  # a triangle is not up-down symmetric

    def crop(a):
        ys, xs = np.nonzero(a > 1e-6)
        return a[ys.min():ys.max() + 1, xs.min():xs.max() + 1]

    cl, cr = crop(left), crop(right)
    assert np.allclose(cr, cl[::-1, ::-1], atol=1e-6)  # in front = behind rotated 180°
    up = tri.kernel(6.5)  # the largest radius (step 0.5) whose kernel fits a 16-px cell
    assert up.shape[0] <= 16
    assert np.allclose(cl, crop(up / up.max()), atol=1e-6)
    bn = BokehNet(comp, steps=1)
    frame = np.full((16, 32, 3), 0.3, np.float32)
    assert [c.name for c in bn.conditions(frame, disp, 0.5, 10.0, make_aperture("disc"))] == ["aif", "defocus"]
    assert [c.name for c in bn.conditions(frame, disp, 0.5, 10.0, tri)] == ["aif", "defocus"]  # opt-in only
    conds = BokehNet(comp, steps=1, aperture_branch=True).conditions(frame, disp, 0.5, 10.0, tri)
    assert [c.name for c in conds] == ["aif", "defocus", "aperture"] and conds[2].delta == "predeblur"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CPU offload moves modules to a GPU (run by gpu_check.sh)")
def test_cpu_offload_keeps_modules_on_cpu_and_gives_the_same_result():
    on_gpu = tiny_components(9, device="cuda", dtype=DTYPE)
    off = tiny_components(9, device="cuda", dtype=DTYPE, offload=True)
    assert next(off.transformer.parameters()).device.type == "cpu"
    img = torch.rand(1, 3, 32, 32) * 2 - 1
    a = fx.sample(on_gpu, [fx.Condition(img)], height=32, width=32, prompt="a photo", steps=2, seed=4)
    b = fx.sample(off, [fx.Condition(img)], height=32, width=32, prompt="a photo", steps=2, seed=4)
    assert next(off.transformer.parameters()).device.type == "cpu"  # moved back after use
    assert torch.allclose(a.image, b.image, atol=1e-5 if DTYPE == torch.float32 else 2e-2)
