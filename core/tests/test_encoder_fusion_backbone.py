"""The core's EncoderFusionBackbone: Florence-2's multimodal encoder as the module robovlms runs."""

from __future__ import annotations

import pytest
import torch
from transformers import CLIPImageProcessorPil, Florence2Config, Florence2ForConditionalGeneration

from robovlms.config import VLMConfig
from robovlms.model.encoder_fusion import EncoderFusionBackbone
from robovlms.scaffold.hf import facts


class Florence2(EncoderFusionBackbone):
    name = "florence2"
    model_class = Florence2ForConditionalGeneration


@pytest.fixture(scope="module")
def florence2() -> Florence2:
    found = facts(Florence2ForConditionalGeneration)
    presets = found.presets
    assert found.encoder and presets is not None  # new-plugin writes the adapter on EncoderFusionBackbone
    # the staged encoder's tiny stages: the first kernel as wide as its stride, the preset's patch size
    assert presets["tiny"]["vision_config"]["patch_size"][0] == Florence2Config().vision_config.patch_stride[0]
    torch.manual_seed(0)
    model = Florence2ForConditionalGeneration(Florence2Config(**presets["tiny"])).eval()
    processor = CLIPImageProcessorPil(size={"shortest_edge": 48}, crop_size={"height": 48, "width": 48})
    return Florence2(model, None, processor, VLMConfig(preset="tiny"))


def test_the_encoders_states_match_florence2s_own_forward(florence2: Florence2) -> None:
    """Image tokens at the placeholders, left padding: robovlms's pass through the encoder equals the
    encoder_last_hidden_state of Florence-2's own forward; an action token appended is seen by the prompt
    (the encoder attends both ways), so its states are the encoder's, not a causal decoder's."""
    pixels = torch.randn(2, 3, 48, 48)
    with torch.no_grad():
        tokens = florence2.encode_images(pixels)
    count = tokens.shape[1]
    assert tokens.shape == (2, count, florence2.hidden_size) and count > 1
    image = florence2.model.config.image_token_id
    ids = torch.tensor([[0, *[image] * count, 5, 6, 7], [1, 1, 0, *[image] * count, 8]])
    mask = torch.tensor([[1] * (count + 4), [0, 0] + [1] * (count + 2)])
    with torch.no_grad():
        embeds = florence2.embed_text(ids).masked_scatter((ids == image).unsqueeze(-1), tokens)
        ours = florence2.forward_text(embeds, mask)
        own = florence2.reference_forward(pixels, ids, mask)
        action = torch.randn(2, 1, florence2.hidden_size)
        with_action = florence2.forward_text(torch.cat([embeds, action], 1), torch.cat([mask, mask[:, :1]], 1))
    valid = mask.bool()
    torch.testing.assert_close(ours[valid], own[valid], atol=1e-5, rtol=0)
    assert (with_action[:, :-1][valid] - ours[valid]).abs().max() > 1e-4
    assert florence2.text_tower is florence2.model.model.language_model.encoder
