"""The core's TopLevelBackbone: Llama 4's parts at the model's top level, the projector on the way in."""

from __future__ import annotations

import pytest
import torch
from transformers import Llama4Config, Llama4ForConditionalGeneration, SiglipImageProcessorPil

from robovlms.config import VLMConfig
from robovlms.model.top_level import TopLevelBackbone
from robovlms.scaffold.hf import facts, top_level_layout


class Llama4(TopLevelBackbone):
    name = "llama4"
    model_class = Llama4ForConditionalGeneration


@pytest.fixture(scope="module")
def llama4() -> Llama4:
    presets = facts(Llama4ForConditionalGeneration).presets
    assert presets is not None
    torch.manual_seed(0)
    model = Llama4ForConditionalGeneration(Llama4Config(**presets["tiny"])).eval()
    processor = SiglipImageProcessorPil(size={"height": 32, "width": 32})
    return Llama4(model, None, processor, VLMConfig(preset="tiny"))


def test_two_images_per_row_match_llama4s_own_forward(llama4: Llama4) -> None:
    """Two images per row (the interleaved history's layout), text between them and padding: robovlms's
    projected image tokens at the placeholders, through the language model, equal Llama 4's own forward."""
    pixels = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        tokens = llama4.encode_images(pixels)
    count = tokens.shape[1]
    assert tokens.shape == (4, count, llama4.hidden_size) and count > 1
    image = llama4.model.config.image_token_id
    row = [2, *[image] * count, 5, 6, *[image] * count, 7]
    ids = torch.tensor([row, [0, 0, 2, *[image] * count, 5, *[image] * count]])  # the second row left-padded
    mask = (ids != 0).long()
    with torch.no_grad():
        embeds = llama4.embed_text(ids).masked_scatter((ids == image).unsqueeze(-1), tokens.flatten(0, 1)[None])
        ours = llama4.forward_text(embeds, mask)
        own = llama4.reference_forward(pixels, ids, mask)
    valid = mask.bool()
    torch.testing.assert_close(ours[valid], own[valid], atol=1e-5, rtol=0)
    assert llama4.vision_tower is llama4.model.vision_model
    assert top_level_layout(llama4.model)  # how new-plugin tells it to write the adapter on TopLevelBackbone
    assert not any(p is llama4.word_embedding.weight for p in llama4.vision_tower.parameters())
