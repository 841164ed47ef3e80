"""The core's TiledDeepStackBackbone: GraniteDocling's DeepStack over 1-D positions, a frame one tile."""

from __future__ import annotations

import pytest
import torch
from tiny import tiny_backbone
from torch import nn
from transformers import GraniteDoclingConfig, GraniteDoclingForConditionalGeneration, GraniteDoclingImageProcessorPil

from robovlms.model.deepstack_tiles import TiledDeepStackBackbone
from robovlms.scaffold.hf import facts


class Docling(TiledDeepStackBackbone):
    name = "docling"
    model_class = GraniteDoclingForConditionalGeneration

    @property
    def text_tower(self) -> nn.Module:
        return self.model.model.text_model


@pytest.fixture(scope="module")
def docling() -> Docling:
    found = facts(GraniteDoclingForConditionalGeneration)
    assert found.presets is not None and found.deepstack_tiles
    processor = GraniteDoclingImageProcessorPil(size={"height": 32, "width": 32})
    return tiny_backbone(Docling, GraniteDoclingConfig(**found.presets["tiny"]), processor)


def test_deepstack_features_reach_the_language_model_as_in_the_models_own_forward(docling: Docling) -> None:
    torch.manual_seed(1)
    pixels = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        tokens = docling.encode_images(pixels).shape[1]
    image = docling.model.config.image_token_id
    input_ids = torch.tensor([[2, *[image] * tokens, 5, 6, 7], [2, 8, *[image] * tokens, 9, 10]])
    attention_mask = torch.ones_like(input_ids)
    with torch.no_grad():
        ours = docling(pixels, input_ids, attention_mask)
        reference = docling.reference_forward(pixels, input_ids, attention_mask)
        docling.encode_images(pixels)
        docling._deepstack = None  # what a robovlms_encode_images hook leaves: no DeepStack features
        embeds = docling.place_images(docling.embed_text(input_ids), input_ids, docling.encode_images(pixels))
        docling._deepstack = None
        without = docling.forward_text(embeds, attention_mask, image_index=docling.prompt_image_index(input_ids))
    torch.testing.assert_close(ours, reference, atol=1e-5, rtol=1e-4)
    assert not torch.allclose(without, reference, atol=1e-3)  # the features matter: the check above could fail
