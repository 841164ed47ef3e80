"""The core's PositionedPatchBackbone: Gemma 4's patches and positions, and its language model's per-layer inputs."""

from __future__ import annotations

import numpy as np
import torch
from tiny import tiny_backbone
from transformers import Gemma4Config, Gemma4ForConditionalGeneration, Gemma4ImageProcessorPil, SiglipImageProcessorPil

from robovlms.model.positioned_patches import PositionedPatchBackbone, positioned_patches
from robovlms.model.sequence import image_index_of
from robovlms.scaffold.positioned_patches import positioned_facts
from robovlms.scaffold.processors import _source
from robovlms.scaffold.raster import _compiled
from robovlms.testing.backbone_suite import assert_matches_own_forward


class Gemma4(PositionedPatchBackbone):
    name = "gemma4"
    model_class = Gemma4ForConditionalGeneration


def test_patches_positions_and_per_layer_inputs_match_gemma4s_own() -> None:
    """robovlms's patches and positions equal Gemma 4's processor's; the prompt's ids recovered from its
    embeddings (the pad id at images and action tokens) give the per-layer inputs, and the hidden states, with
    padding, equal Gemma 4's own forward."""
    hf = positioned_facts(Gemma4ForConditionalGeneration)
    assert hf is not None and hf.presets is not None and hf.positioned
    processor = Gemma4ImageProcessorPil(patch_size=8, pooling_kernel_size=2, max_soft_tokens=70)
    stand_in = SiglipImageProcessorPil(size={"height": 32, "width": 32}, do_normalize=False)
    gemma = tiny_backbone(Gemma4, Gemma4Config(**hf.presets["tiny"]), stand_in)
    model = gemma.model
    frame = np.random.default_rng(0).integers(0, 256, size=(32, 32, 3), dtype=np.uint8)
    theirs = processor(frame, do_resize=False, return_tensors="pt")
    pixels = torch.as_tensor(frame).permute(2, 0, 1)[None].float() / 255
    ours = gemma.patches(pixels)
    torch.testing.assert_close(ours["pixel_values"][0], theirs["pixel_values"][0, :16].float())
    assert ours["image_position_ids"][0].tolist() == theirs["image_position_ids"][0, :16].tolist()

    image, pad = model.config.image_token_id, model.config.text_config.pad_token_id
    ids = torch.tensor([[2, *[image] * 4, 5, 6], [0, 0, 2, *[image] * 4]])  # 2 x 2 pooled tokens; left padding
    mask = (ids != pad).long()
    pixels = pixels.expand(2, -1, -1, -1)
    with torch.no_grad():
        embeds, _ = gemma.embed_prompt(pixels, ids)
        actions = torch.randn(2, 3, embeds.shape[-1])
        index = image_index_of(torch.cat([gemma.image_slots(ids), torch.zeros(2, 3, dtype=torch.bool)], dim=1))
        found = gemma.prompt_ids(torch.cat([embeds, actions], dim=1), index)
    assert found.tolist() == torch.cat([ids.masked_fill(ids == image, pad), torch.full((2, 3), pad)], 1).tolist()
    assert_matches_own_forward(gemma, pixels, ids, mask, atol=1e-5)


def test_merged_patches_match_gemma4_unifieds_processor() -> None:
    """Gemma 4 Unified's processor merges k x k patches (its patches_merge, run from source: its module imports
    torchvision); robovlms's patches of the merged side, and their positions, are the same."""
    modules = _source("gemma4_unified")
    cut = _compiled(modules, None, "convert_image_to_patches")
    merge = _compiled(modules, None, "patches_merge")
    pixels = torch.rand(1, 3, 48, 48)
    small = cut(pixels[0], 8)  # 6 x 6 patches of 8, merged 2 x 2 into 3 x 3 of 16
    y, x = torch.meshgrid(torch.arange(6), torch.arange(6), indexing="ij")
    theirs, positions = merge(small[None], torch.stack([x, y], -1).reshape(1, 36, 2), 9)
    ours, our_positions = positioned_patches(pixels, 16)
    torch.testing.assert_close(ours, theirs)
    assert our_positions.tolist() == positions.tolist()
