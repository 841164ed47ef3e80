"""The core's VQCodesBackbone: Chameleon's images as the word embeddings of their VQ codes."""

from __future__ import annotations

import pytest
import torch
from tiny import tiny_backbone
from transformers import (
    Apertus1p5Config,
    Apertus1p5ForConditionalGeneration,
    ChameleonConfig,
    ChameleonForConditionalGeneration,
    ChameleonImageProcessorPil,
    Emu3Config,
    Emu3ForConditionalGeneration,
    Emu3ImageProcessor,
)

from robovlms.errors import ConfigError
from robovlms.model.vq_codes import VQCodesBackbone, chameleon_code, code_vocabulary, vq_preset_settings
from robovlms.scaffold.vq import vq_facts


class Chameleon(VQCodesBackbone):
    name = "chameleon"
    model_class = ChameleonForConditionalGeneration


@pytest.fixture(scope="module")
def chameleon() -> Chameleon:
    hf = vq_facts(ChameleonForConditionalGeneration)
    assert hf is not None and hf.presets is not None and hf.vq
    config = ChameleonConfig(**vq_preset_settings(hf.presets, "tiny", None))
    processor = ChameleonImageProcessorPil(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    return tiny_backbone(Chameleon, config, processor)


def test_two_images_per_row_match_chameleons_own_forward(chameleon: Chameleon) -> None:
    """Two images per row, text between them and padding: the codes' embeddings at the placeholders, through
    the language model, equal Chameleon's own forward, which swaps the placeholders for the codes' ids."""
    pixels = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        tokens = chameleon.encode_images(pixels)
    assert tokens.shape == (4, 4, chameleon.hidden_size)  # 32 pixels downsampled by 16: 2 x 2 codes
    image = chameleon.image_token_id
    assert isinstance(image, int)
    row = [2, *[image] * 4, 5, 6, *[image] * 4, 7]
    ids = torch.tensor([row, [0, 0, 2, *[image] * 4, 5, *[image] * 4]])  # the second row left-padded
    mask = (ids != 0).long()
    with torch.no_grad():
        embeds = chameleon.embed_text(ids).masked_scatter((ids == image).unsqueeze(-1), tokens.flatten(0, 1)[None])
        ours = chameleon.forward_text(embeds, mask)
        own = chameleon.reference_forward(pixels, ids, mask)
    valid = mask.bool()
    torch.testing.assert_close(ours[valid], own[valid], atol=1e-5, rtol=0)


def test_training_reaches_the_vq_encoder_and_keeps_the_codes(chameleon: Chameleon) -> None:
    """The argmin passes no gradient; the straight-through one reaches the VQ encoder, and the tokens'
    values stay the codes' embeddings exactly."""
    pixels = torch.randn(2, 3, 32, 32)
    chameleon.zero_grad()
    tokens = chameleon.encode_images(pixels)
    with torch.no_grad():
        hard = chameleon.model.model.get_image_features(pixel_values=pixels).pooler_output
    assert torch.equal(tokens.detach(), hard)
    tokens.pow(2).sum().backward()
    encoder = chameleon.vision_tower.encoder.conv_in.weight.grad
    assert encoder is not None and encoder.abs().sum() > 0


def test_emu3s_rows_end_with_a_placeholder_and_match_its_own_forward() -> None:
    """Emu3 ends each row of codes with an end-of-line token and takes image_sizes: the prompt's count and
    robovlms's hidden states follow its own forward, on a frame that is not square."""
    hf = vq_facts(Emu3ForConditionalGeneration)
    assert hf is not None and hf.presets is not None

    class Emu3(VQCodesBackbone):
        name = "emu3"
        model_class = Emu3ForConditionalGeneration

    config = Emu3Config(**vq_preset_settings(hf.presets, "tiny", None))
    emu3 = tiny_backbone(Emu3, config, Emu3ImageProcessor(min_pixels=32 * 32, max_pixels=32 * 32))
    pixels = torch.randn(2, 3, 24, 40)  # 3 rows of 5 codes, each row ended: 18 tokens
    layout = emu3.layout_of(pixels)
    assert emu3.row_end and layout.tokens == 18 and emu3.image_processor.rule == "pixel_budget"
    image = emu3.image_token_id
    assert isinstance(image, int)
    ids = torch.tensor([[2, *[image] * 18, 5, 6]] * 2)
    mask = torch.ones_like(ids)
    with torch.no_grad():
        ours = emu3(pixels, ids, mask)
        own = emu3.reference_forward(pixels, ids, mask)
    torch.testing.assert_close(ours, own, atol=1e-5, rtol=0)


def test_apertus_codes_by_offset_match_its_own_forward_and_train_its_tokenizer() -> None:
    """Apertus 1.5 places its codes at image_token_offset and scores them by inner product: robovlms's states
    equal its own forward, and the straight-through gradient reaches its VQ tokenizer's encoder."""
    hf = vq_facts(Apertus1p5ForConditionalGeneration)
    assert hf is not None and hf.presets is not None

    class Apertus(VQCodesBackbone):
        name = "apertus"
        model_class = Apertus1p5ForConditionalGeneration

    config = Apertus1p5Config(**vq_preset_settings(hf.presets, "tiny", None))
    processor = Emu3ImageProcessor(min_pixels=32 * 32, max_pixels=32 * 32, spatial_factor=16)
    apertus = tiny_backbone(Apertus, config, processor)
    pixels = torch.randn(2, 3, 32, 48)  # 2 x 3 codes
    assert apertus.layout_of(pixels).tokens == 6 and not apertus.row_end
    image = apertus.image_token_id
    assert isinstance(image, int)
    ids = torch.tensor([[2, *[image] * 6, 5, 6]] * 2)
    mask = torch.ones_like(ids)
    ours = apertus(pixels, ids, mask)
    with torch.no_grad():
        own = apertus.reference_forward(pixels, ids, mask)
    torch.testing.assert_close(ours.detach(), own, atol=1e-5, rtol=0)
    ours.pow(2).mean().backward()
    grad = apertus.vision_tower.encoder.conv_in.weight.grad
    assert grad is not None and grad.abs().sum() > 0


def test_vocabulary_map_places_the_codes_at_the_top() -> None:
    vocabulary = code_vocabulary("chameleon", 320, 32, 259)
    assert (
        vocabulary["<image>"] == 259 and vocabulary[chameleon_code(0)] == 288 and vocabulary[chameleon_code(31)] == 319
    )
    assert chameleon_code(12) == "IMGIMGBCZ"  # digits as letters, as Chameleon's vocabulary mapping parses them
    with pytest.raises(ConfigError, match="below the 32 ids of the codes"):
        code_vocabulary("chameleon", 320, 32, 300)
