"""The core's TiledDeepStackBackbone: GraniteDocling's DeepStack over 1-D positions, a frame one tile."""

from __future__ import annotations

import pytest
from kept_features import assert_kept_features_reach_the_language_model
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
    assert_kept_features_reach_the_language_model(docling)
