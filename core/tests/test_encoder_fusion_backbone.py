"""The core's EncoderFusionBackbone: Florence-2's multimodal encoder as the module robovlms runs."""

from __future__ import annotations

import pytest
import torch
from tiny import tiny_backbone
from transformers import (
    CLIPImageProcessorPil,
    Florence2Config,
    Florence2ForConditionalGeneration,
    Gemma3ImageProcessorPil,
    T5Gemma2Config,
    T5Gemma2ForConditionalGeneration,
)

from robovlms.model.encoder_fusion import EncoderFusionBackbone
from robovlms.model.presets import preset_settings
from robovlms.scaffold.hf import facts


class Florence2(EncoderFusionBackbone):
    name = "florence2"
    model_class = Florence2ForConditionalGeneration


class T5Gemma2(EncoderFusionBackbone):
    name = "t5gemma2"
    model_class = T5Gemma2ForConditionalGeneration


@pytest.fixture(scope="module")
def t5gemma2() -> T5Gemma2:
    """T5Gemma 2 nests the encoder's vision and text configs under ``encoder``; its vision tower and
    get_image_features are the encoder's, with no ``model.model.vision_tower``."""
    found = facts(T5Gemma2ForConditionalGeneration)
    assert found.encoder and found.nested and found.presets is not None
    settings = preset_settings(found.presets, "tiny", 48, vision="encoder.vision_config")
    processor = Gemma3ImageProcessorPil(size={"height": 48, "width": 48})
    return tiny_backbone(T5Gemma2, T5Gemma2Config(**settings), processor)


@pytest.fixture(scope="module")
def florence2() -> Florence2:
    found = facts(Florence2ForConditionalGeneration)
    presets = found.presets
    assert found.encoder and presets is not None  # new-plugin writes the adapter on EncoderFusionBackbone
    # the staged encoder's tiny stages: the first kernel as wide as its stride, the preset's patch size
    assert presets["tiny"]["vision_config"]["patch_size"][0] == Florence2Config().vision_config.patch_stride[0]
    processor = CLIPImageProcessorPil(size={"shortest_edge": 48}, crop_size={"height": 48, "width": 48})
    return tiny_backbone(Florence2, Florence2Config(**presets["tiny"]), processor)


@pytest.mark.parametrize("backbone", ["florence2", "t5gemma2"])
def test_the_encoders_states_match_the_vlms_own_forward(backbone: str, request: pytest.FixtureRequest) -> None:
    """Image tokens at the placeholders, left padding: robovlms's pass through the encoder equals the
    encoder_last_hidden_state of the VLM's own forward; an action token appended is seen by the prompt
    (the encoder attends both ways), so its states are the encoder's, not a causal decoder's."""
    vlm = request.getfixturevalue(backbone)
    pixels = torch.randn(2, 3, 48, 48)
    with torch.no_grad():
        tokens = vlm.encode_images(pixels)
    count = tokens.shape[1]
    assert tokens.shape == (2, count, vlm.hidden_size) and count > 1
    image = vlm.model.config.image_token_id
    ids = torch.tensor([[0, *[image] * count, 5, 6, 7], [1, 1, 0, *[image] * count, 8]])
    mask = torch.tensor([[1] * (count + 4), [0, 0] + [1] * (count + 2)])
    with torch.no_grad():
        embeds = vlm.embed_text(ids).masked_scatter((ids == image).unsqueeze(-1), tokens)
        ours = vlm.forward_text(embeds, mask)
        own = vlm.reference_forward(pixels, ids, mask)
        action = torch.randn(2, 1, vlm.hidden_size)
        with_action = vlm.forward_text(torch.cat([embeds, action], 1), torch.cat([mask, mask[:, :1]], 1))
    valid = mask.bool()
    torch.testing.assert_close(ours[valid], own[valid], atol=1e-5, rtol=0)
    assert (with_action[:, :-1][valid] - ours[valid]).abs().max() > 1e-4
    # the multimodal encoder, and the vision tower where the VLM keeps it (T5Gemma 2: inside the encoder)
    inner = vlm.model.model
    encoder = inner.language_model.encoder if backbone == "florence2" else inner.encoder
    assert vlm.text_tower is encoder
    assert vlm.vision_tower is (inner.vision_tower if backbone == "florence2" else encoder.vision_tower)
