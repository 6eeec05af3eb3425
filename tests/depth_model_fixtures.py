"""Tiny random depth models of every transformers family, saved as real local folders.

Each builder makes a model from a small config (random weights, seeded), saves it with
safetensors and its image processor into `folder`, as a downloaded checkpoint would be laid out.
Nothing is downloaded. The Depth Pro model's field-of-view head is set to answer 60 degrees
(last layer: zero weights, bias 60), so its metric scale has a known expectation.
"""
from __future__ import annotations

import json
from pathlib import Path

FAMILIES = ("depth_anything", "depth_anything_metric", "dpt", "zoedepth", "depth_pro")
DEPTH_PRO_FOV = 60.0
METRIC_MAX_DEPTH = 20


def _dinov2(**kw):
    base = dict(model_type="dinov2", image_size=28, patch_size=14, hidden_size=16, num_hidden_layers=2,
                num_attention_heads=2, intermediate_size=32)
    base.update(kw)
    return base


def build(family: str, folder: Path) -> Path:
    """Save a tiny `family` model (see FAMILIES) into `folder` and return it."""
    import torch
    from transformers import DPTImageProcessor, ZoeDepthImageProcessor

    torch.manual_seed(0)
    folder.mkdir(parents=True, exist_ok=True)
    if family.startswith("depth_anything"):
        from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation

        metric = family.endswith("metric")
        cfg = DepthAnythingConfig(backbone_config=_dinov2(out_indices=[1, 2], reshape_hidden_states=False),
                                  reassemble_hidden_size=16, neck_hidden_sizes=[8, 16], fusion_hidden_size=8,
                                  head_hidden_size=4, reassemble_factors=[2, 1],
                                  depth_estimation_type="metric" if metric else "relative",
                                  max_depth=METRIC_MAX_DEPTH if metric else 1)
        model = DepthAnythingForDepthEstimation(cfg)
        proc = DPTImageProcessor(size={"height": 28, "width": 28}, keep_aspect_ratio=True, ensure_multiple_of=14,
                                 image_mean=[0.485, 0.456, 0.406], image_std=[0.229, 0.224, 0.225])
    elif family == "dpt":
        from transformers import DPTConfig, DPTForDepthEstimation

        cfg = DPTConfig(hidden_size=16, num_hidden_layers=4, num_attention_heads=2, intermediate_size=32,
                        image_size=32, patch_size=8, backbone_out_indices=[0, 1, 2, 3], neck_hidden_sizes=[8, 8, 8, 8],
                        fusion_hidden_size=8, reassemble_factors=[4, 2, 1, 0.5])
        model = DPTForDepthEstimation(cfg)
        proc = DPTImageProcessor(size={"height": 32, "width": 32}, keep_aspect_ratio=False)
    elif family == "zoedepth":
        from transformers import ZoeDepthConfig, ZoeDepthForDepthEstimation

        bb = dict(model_type="beit", image_size=32, patch_size=8, hidden_size=16, num_hidden_layers=4,
                  num_attention_heads=2, intermediate_size=32, out_indices=[1, 2, 3, 4], reshape_hidden_states=False,
                  use_relative_position_bias=True)
        cfg = ZoeDepthConfig(backbone_config=bb, neck_hidden_sizes=[8, 8, 8, 8], fusion_hidden_size=8,
                             bottleneck_features=8, num_relative_features=8, bin_embedding_dim=8,
                             num_attractors=[4, 4, 4, 4], reassemble_factors=[4, 2, 1, 0.5],
                             bin_configurations=[{"n_bins": 8, "min_depth": 0.001, "max_depth": 10.0}],
                             num_patch_transformer_layers=1, patch_transformer_hidden_size=8,
                             patch_transformer_intermediate_size=16, patch_transformer_num_attention_heads=1)
        model = ZoeDepthForDepthEstimation(cfg)
        proc = ZoeDepthImageProcessor(size={"height": 32, "width": 32}, keep_aspect_ratio=True, ensure_multiple_of=8)
    elif family == "depth_pro":
        from transformers import DepthProConfig, DepthProForDepthEstimation

        sub = _dinov2(image_size=32, patch_size=8)
        cfg = DepthProConfig(patch_size=32, image_model_config=sub, patch_model_config=sub, fov_model_config=sub,
                             use_fov_model=True, fusion_hidden_size=16, intermediate_hook_ids=[1, 0],
                             intermediate_feature_dims=[8, 8], scaled_images_ratios=[0.5, 1],
                             scaled_images_overlap_ratios=[0.0, 0.25], scaled_images_feature_dims=[8, 8],
                             num_fov_head_layers=1)
        model = DepthProForDepthEstimation(cfg)
        last = [m for m in model.fov_model.head.modules() if isinstance(m, torch.nn.Conv2d)][-1]
        with torch.no_grad():
            last.weight.zero_()
            last.bias.fill_(DEPTH_PRO_FOV)
        model.save_pretrained(folder, safe_serialization=True)
        # DepthProImageProcessor's layout (it needs torchvision to load; the loader falls back)
        (folder / "preprocessor_config.json").write_text(json.dumps({
            "image_processor_type": "DepthProImageProcessor", "size": {"height": 64, "width": 64},
            "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5], "do_rescale": True,
            "rescale_factor": 1 / 255, "do_normalize": True, "do_resize": True, "resample": 2}))
        return folder
    else:
        raise ValueError(family)
    model.save_pretrained(folder, safe_serialization=True)
    proc.save_pretrained(folder)
    return folder
