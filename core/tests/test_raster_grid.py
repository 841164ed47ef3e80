"""Grid backbones fed raster-ordered patches (Muse Glimmer, Kimi K2.5) or one block of pixels per token
(Inkling 2), and the check that a fixed-size PIL processor gives their torchvision-only processor's pixels,
run on that processor's own code."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from tiny import tiny_backbone
from transformers import (
    Inkling2Config,
    Inkling2ForConditionalGeneration,
    Kimi_K25Config,
    Kimi_K25ForConditionalGeneration,
    MuseGlimmerConfig,
    MuseGlimmerForConditionalGeneration,
    SiglipImageProcessorPil,
)

from robovlms.model.raster_grid import RasterGridBackbone, TokenGridBackbone
from robovlms.scaffold.hf import facts
from robovlms.scaffold.raster import block_stand_in, raster_stand_in


class Kimi(RasterGridBackbone):
    name = "kimi"
    model_class = Kimi_K25ForConditionalGeneration


def test_image_tokens_are_the_models_own_per_image() -> None:
    """Two frames at once: each frame's tokens equal Kimi K2.5's own features of that frame alone, as
    many as the layout says (one per 2 x 2 block of patches), so the encoder merged what it was given."""
    presets = facts(Kimi_K25ForConditionalGeneration).presets
    assert presets is not None
    processor = SiglipImageProcessorPil(size={"height": 32, "width": 32})
    robovlm = tiny_backbone(Kimi, Kimi_K25Config(**presets["tiny"]), processor)
    model = robovlm.model
    pixels = torch.randn(2, 3, 32, 48)
    with torch.no_grad():
        tokens = robovlm.encode_images(pixels)
        own = [model.model.get_image_features(**robovlm.image_inputs(p[None])).pooler_output[0] for p in pixels]
    assert robovlm.merge_size == 2 and tokens.shape[1] == robovlm.image_layout(32, 48).tokens == 6
    torch.testing.assert_close(tokens, torch.stack(own), atol=1e-5, rtol=0)


@pytest.mark.parametrize(
    ("hf_class", "resample", "full_side"),
    [(MuseGlimmerForConditionalGeneration, 1, 448), (Kimi_K25ForConditionalGeneration, 3, 896)],
)
def test_the_stand_in_carries_the_processors_rule(hf_class: type, resample: int, full_side: int) -> None:
    """Its mean, std and resampling (LANCZOS, BICUBIC), a frame side of its encoder's position table."""
    hf = facts(hf_class)
    assert hf.reason is None and hf.raster and hf.processor_class == "SiglipImageProcessorPil"
    assert f"image_mean={[0.5] * 3}" in hf.processor_args and f"resample={resample}," in hf.processor_args
    assert hf.sides == {"tiny": 32, "full": full_side}


def test_a_frame_the_rule_would_resize_or_a_patch_order_that_differs_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    vision = MuseGlimmerConfig().vision_config  # 14-pixel patches, 2 x 2 merged: a 28-pixel grid
    processor = "MuseGlimmerImageProcessor"
    with pytest.raises(ValueError, match="off MuseGlimmerImageProcessor's grid of 28 pixels"):
        raster_stand_in("muse_glimmer", processor, vision, [224 + 14])
    with pytest.raises(ValueError, match="smart_resize changes a square frame of side 2240"):
        raster_stand_in("muse_glimmer", processor, vision, [2240])  # 80 x 80 tokens, over its cap of 4096
    raster = RasterGridBackbone.patchify
    # the last row of patches first: the processor's patches, in another order
    monkeypatch.setattr(RasterGridBackbone, "patchify", lambda self, x: raster(self, x.flip(-2)))
    with pytest.raises(ValueError, match="patchify lays patches out otherwise"):
        raster_stand_in("muse_glimmer", processor, vision, [224])


def test_inkling2_takes_one_block_per_token_and_its_processors_layout() -> None:
    """Inkling 2's processor, run from its source on a frame on its grid, gives TokenGridBackbone's blocks and
    grid; a frame off its 40-pixel blocks (which it would pad) is refused."""
    hf = facts(Inkling2ForConditionalGeneration)
    assert hf.reason is None and hf.blocks and "resample" not in hf.processor_args
    vision = Inkling2Config().vision_config
    with pytest.raises(ValueError, match="off Inkling2ImageProcessor's blocks of 40 pixels"):
        block_stand_in("inkling2", "Inkling2ImageProcessor", vision, 60)
    assert hf.presets is not None
    tiny = Inkling2Config(**hf.presets["tiny"]).vision_config  # 8-pixel patches, 2 x 2 a token
    probe: Any = type("Probe", (), {"_vision": tiny, "merge_size": 2, "row_end_tokens": 0, "image_end_tokens": 0})
    pixels = torch.randn(2, 3, 32, 48)
    blocks = TokenGridBackbone.patchify(probe, pixels)
    assert blocks.shape == (12, 16, 16, 3) and torch.equal(blocks[4], pixels[0, :, 16:, 16:32].permute(1, 2, 0))
    grid = [[1, *TokenGridBackbone.image_layout(probe, 32, 48).grid]] * 2
    assert TokenGridBackbone.grid_thw(probe, pixels).tolist() == [[1, 2, 3]] * 2 == grid
