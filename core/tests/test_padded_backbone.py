"""The core's longest-edge-and-pad rule and PaddedSquareBackbone: Aria's frames keep their aspect ratio,
padded to a square whose pixel_mask reaches its vision encoder and projector."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import AriaConfig, AriaForConditionalGeneration, AriaImageProcessorPil

from robovlms.config import VLMConfig
from robovlms.model.images import ImageProcessor
from robovlms.model.padded import PaddedSquareBackbone
from robovlms.scaffold.hf import facts


def _smooth_frame(height: int, width: int) -> np.ndarray:
    """A frame without the pixel noise on which PIL's and torch's bicubic kernels part most."""
    rows, columns = np.mgrid[0:height, 0:width]
    channels = [rows * 255 / height, columns * 255 / width, (rows + columns) * 127 / (height + width)]
    return np.stack(channels, axis=-1).astype(np.uint8)


@pytest.mark.parametrize("shape", [(48, 64), (64, 48), (200, 40)])
def test_longest_edge_pad_follows_arias_processor(shape: tuple[int, int]) -> None:
    """Aria's own processor at 490 on frames that are not square (the last one below min_image_size on
    its shorter side): the same mask and padding, the resized pixels within the two resamplers' rounding."""
    theirs = AriaImageProcessorPil(max_image_size=490)
    ours = ImageProcessor.from_transformers(theirs)
    frame = _smooth_frame(*shape)
    expected = theirs(images=frame, return_tensors="pt")
    pixels, mask = ours.pad(ours(frame))
    assert ours.rule == "longest_edge_pad" and pixels.shape == expected["pixel_values"].shape
    assert torch.equal(mask, expected["pixel_mask"].bool())
    assert torch.equal(pixels[..., ~mask[0]], expected["pixel_values"][..., ~mask[0]])
    assert (pixels - expected["pixel_values"]).abs().max() < 0.05


class Aria(PaddedSquareBackbone):
    name = "aria"
    model_class = AriaForConditionalGeneration


@pytest.fixture(scope="module")
def aria() -> Aria:
    presets = facts(AriaForConditionalGeneration).presets
    assert presets is not None
    torch.manual_seed(0)
    model = AriaForConditionalGeneration(AriaConfig(**presets["tiny"])).eval()
    processor = AriaImageProcessorPil(max_image_size=32, min_image_size=12)
    return Aria(model, None, processor, VLMConfig(preset="tiny"))


def test_padded_frames_match_arias_own_forward(aria: Aria) -> None:
    """Frames wider than tall: robovlms's image tokens at the placeholders, through the language model,
    equal Aria's own forward given the padded pixels and their pixel_mask; without the mask they differ."""
    frames = np.random.default_rng(0).integers(0, 256, size=(2, 48, 64, 3), dtype=np.uint8)
    pixels = aria.image_processor(frames)
    assert pixels.shape == (2, 3, 24, 32)
    with torch.no_grad():
        tokens = aria.encode_images(pixels)
        unmasked = aria.model.model.get_image_features(pixel_values=aria.padded_inputs(pixels)["pixel_values"])
    count = tokens.shape[1]
    assert (tokens - unmasked.pooler_output).abs().max() > 1e-4, "the padding must be masked"
    image = aria.model.config.image_token_id
    ids = torch.tensor([[2, *[image] * count, 5, 6], [0, 2, *[image] * count, 5]])  # the second row left-padded
    mask = (ids != 0).long()
    with torch.no_grad():
        embeds = aria.embed_text(ids).masked_scatter((ids == image).unsqueeze(-1), tokens.flatten(0, 1)[None])
        ours = aria.forward_text(embeds, mask)
        own = aria.reference_forward(pixels, ids, mask)
    valid = mask.bool()
    torch.testing.assert_close(ours[valid], own[valid], atol=1e-5, rtol=0)
