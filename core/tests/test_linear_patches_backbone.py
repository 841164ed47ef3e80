"""The core's LinearPatchBackbone: Fuyu's patches, cut as its processor cuts them, projected at the placeholders."""

from __future__ import annotations

import numpy as np
import torch
from tiny import tiny_backbone
from transformers import FuyuConfig, FuyuForCausalLM, FuyuImageProcessorPil

from robovlms.model.linear_patches import LinearPatchBackbone, patch_preset_settings
from robovlms.scaffold.linear_patches import patch_facts
from robovlms.testing.backbone_suite import assert_matches_own_forward


class Fuyu(LinearPatchBackbone):
    name = "fuyu"
    model_class = FuyuForCausalLM


def test_patches_in_fuyus_order_match_its_own_forward() -> None:
    """robovlms's patches equal Fuyu's processor's ``patchify_image``; its hidden states, with padding, equal
    Fuyu's own forward over those patches."""
    hf = patch_facts(FuyuForCausalLM)
    assert hf is not None and hf.presets is not None and hf.linear_patches
    processor = FuyuImageProcessorPil(size={"height": 32, "width": 32}, patch_size={"height": 8, "width": 8})
    fuyu = tiny_backbone(Fuyu, FuyuConfig(**patch_preset_settings(hf.presets, "tiny", None)), processor)
    pixels = torch.randn(2, 3, 32, 32)
    theirs = processor.patchify_image(pixels.numpy(), processor.patch_size)
    np.testing.assert_array_equal(fuyu.patchify(pixels).numpy(), theirs)
    image = fuyu.image_token_id
    assert isinstance(image, int)
    ids = torch.tensor([[2, *[image] * 16, 5, 6], [0, 0, 2, *[image] * 16]])  # 4 x 4 patches; left padding
    mask = (ids != 0).long()
    assert_matches_own_forward(fuyu, pixels, ids, mask, atol=1e-5)
    assert fuyu.vision_tower is fuyu.model.model.vision_embed_tokens
