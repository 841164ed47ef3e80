"""The core's InnerVLMBackbone: PI0's PaliGemma, a whole VLM inside the model robovlms loads and saves."""

from __future__ import annotations

import pytest
import torch
from tiny import tiny_backbone
from transformers import PI0Config, PI0ForConditionalGeneration, SiglipImageProcessorPil

from robovlms.model.inner_vlm import InnerVLMBackbone
from robovlms.scaffold.inner_vlm import inner_vlm_facts
from robovlms.testing.backbone_suite import assert_matches_own_forward


class PI0(InnerVLMBackbone):
    name = "pi0"
    model_class = PI0ForConditionalGeneration


@pytest.fixture(scope="module")
def pi0() -> PI0:
    facts = inner_vlm_facts(PI0ForConditionalGeneration)
    assert facts is not None and facts.presets is not None and facts.inner_config == "vlm_config"
    processor = SiglipImageProcessorPil(size={"height": 32, "width": 32})
    return tiny_backbone(PI0, PI0Config(**facts.presets["tiny"]), processor)


def test_prompt_states_match_the_inner_vlms_own_forward(pi0: PI0) -> None:
    """Image tokens at the placeholders, a left-padded row, the whole prompt the bidirectional prefix (PI0's
    token_type_ids): robovlms's path equals the PaliGemma's own forward, and action tokens after the prompt
    attend causally (the prompt's states do not change with them)."""
    pixels = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        tokens = pi0.encode_images(pixels)
    count = tokens.shape[1]
    assert tokens.shape == (2, count, pi0.hidden_size) and count > 1
    image = pi0.model.config.vlm_config.image_token_id
    ids = torch.tensor([[2, *[image] * count, 5, 6, 7], [0, 0, 2, *[image] * count, 5]])
    mask = (ids != 0).long()
    suffix = torch.randn(2, 3, pi0.hidden_size)
    ours = assert_matches_own_forward(pi0, pixels, ids, mask, atol=1e-5)
    with torch.no_grad():
        with_actions = pi0(pixels, ids, mask, suffix=suffix)
    valid = mask.bool()
    torch.testing.assert_close(with_actions[:, : ids.shape[1]][valid], ours[valid], atol=1e-5, rtol=0)
    assert pi0.vision_tower is pi0.model.model.vlm.vision_tower and pi0.text_tower is pi0.model.model.vlm.language_model
    assert not any(p is pi0.word_embedding.weight for p in pi0.vision_tower.parameters())


def test_a_vlm_of_its_own_is_no_inner_vlm() -> None:
    from transformers import PaliGemmaForConditionalGeneration

    assert inner_vlm_facts(PaliGemmaForConditionalGeneration) is None
