"""The core's HighResBackbone: DeepSeek-VL-Hybrid's second encoder reads the frame again at its own size."""

from __future__ import annotations

import pytest
import torch
from tiny import tiny_backbone
from transformers import (
    DeepseekVLHybridConfig,
    DeepseekVLHybridForConditionalGeneration,
    DeepseekVLHybridImageProcessorPil,
)

from robovlms.model.high_res import HighResBackbone
from robovlms.scaffold.hf import facts


class Hybrid(HighResBackbone):
    name = "hybrid"
    model_class = DeepseekVLHybridForConditionalGeneration


@pytest.fixture(scope="module")
def hybrid() -> Hybrid:
    found = facts(DeepseekVLHybridForConditionalGeneration)
    assert found.presets is not None and "high_res_pixel_values" in found.image_inputs
    # the second encoder's normalisation differs from the first's, as a checkpoint's may
    processor = DeepseekVLHybridImageProcessorPil(
        size={"height": 32, "width": 32}, high_res_image_mean=[0.5] * 3, high_res_image_std=[0.25] * 3
    )
    return tiny_backbone(Hybrid, DeepseekVLHybridConfig(**found.presets["tiny"]), processor)


def test_the_high_res_copy_is_the_frame_at_the_second_encoders_size_and_normalisation(hybrid: Hybrid) -> None:
    grey = torch.full((2, 48, 64, 3), 153, dtype=torch.uint8)  # 0.6 of full scale
    pixels = hybrid.image_processor(grey.numpy())
    high = hybrid.high_res_pixels(pixels)
    side = hybrid.model.config.high_res_vision_config.image_size
    assert pixels.shape[-1] < side and high.shape == (2, 3, side, side)
    torch.testing.assert_close(high, torch.full_like(high, (0.6 - 0.5) / 0.25), atol=1e-4, rtol=0)
    with torch.no_grad():
        tokens = hybrid.model.model.get_image_features(pixels, high_res_pixel_values=high).pooler_output
    patches = (pixels.shape[-1] // hybrid.model.config.vision_config.patch_size) ** 2
    assert tokens.shape == (2, patches, hybrid.hidden_size)
