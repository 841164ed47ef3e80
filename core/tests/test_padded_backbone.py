"""The core's padding rules: Aria's longest edge (PaddedSquareBackbone: frames keep their aspect ratio, padded
to a square whose pixel_mask reaches its vision encoder and projector) and GLM-5 Next's token budget."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tiny import tiny_backbone
from transformers import AriaConfig, AriaForConditionalGeneration, AriaImageProcessorPil, Glm5NextImageProcessorPil

from robovlms.model.images import ImageProcessor, padded_budget_size
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
    assert (pixels - expected["pixel_values"]).abs().max() < 0.02  # a grey level is 0.008 here


@pytest.mark.parametrize("shape", [(48, 64), (100, 30), (8, 10), (480, 640)])
def test_padded_pixel_budget_follows_glm5_nexts_processor(shape: tuple[int, int]) -> None:
    """GLM-5 Next's own processor, its patches put back together: the same canvas of whole blocks (enlarged
    below min_image_tokens, shrunk above max_image_tokens), the same black padding, the frame in it within
    the two resamplers' rounding."""
    theirs = Glm5NextImageProcessorPil(min_image_tokens=4, max_image_tokens=16, patch_size=8)
    ours = ImageProcessor.from_transformers(theirs)
    smooth = _smooth_frame(*shape)
    pixels = ours(smooth)[0]
    expected = theirs(images=smooth, return_tensors="pt")
    _, rows, columns = expected["image_grid_thw"][0].tolist()
    blocks = expected["pixel_values"].reshape(rows // 2, columns // 2, 2, 2, 3, 2, 8, 8)[..., 0, :, :]
    frame = blocks.permute(4, 0, 2, 5, 1, 3, 6).reshape(3, rows * 8, columns * 8)
    assert ours.rule == "pixel_budget_pad" and pixels.shape == frame.shape
    canvas, content = padded_budget_size(*shape, 16, 4 * 16**2, 16 * 16**2)
    assert canvas == (rows * 8, columns * 8)
    assert torch.equal(pixels[:, content[0] :], frame[:, content[0] :])
    assert torch.equal(pixels[:, :, content[1] :], frame[:, :, content[1] :])
    assert (pixels - frame).abs().max() < 0.03  # a grey level is 0.015 here


class Aria(PaddedSquareBackbone):
    name = "aria"
    model_class = AriaForConditionalGeneration


@pytest.fixture(scope="module")
def aria() -> Aria:
    presets = facts(AriaForConditionalGeneration).presets
    assert presets is not None
    processor = AriaImageProcessorPil(max_image_size=32, min_image_size=12)
    return tiny_backbone(Aria, AriaConfig(**presets["tiny"]), processor)


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
