"""The core's LayerMapBackbone: Granite 4 Vision's images enter its language model only at layers of their own."""

from __future__ import annotations

import pytest
from kept_features import assert_kept_features_reach_the_language_model
from tiny import tiny_backbone
from transformers import Granite4VisionConfig, Granite4VisionForConditionalGeneration, LlavaNextImageProcessorPil

from robovlms.model.layer_map import LayerMapBackbone
from robovlms.scaffold.hf import facts


class Granite4(LayerMapBackbone):
    name = "granite4"
    model_class = Granite4VisionForConditionalGeneration


@pytest.fixture(scope="module")
def granite() -> Granite4:
    found = facts(Granite4VisionForConditionalGeneration)
    assert found.presets is not None and found.layer_map
    config = Granite4VisionConfig(**found.presets["tiny"])
    config.image_grid_pinpoints = [[32, 32]]  # as TiledBackbone.preset_config makes it: a frame is one tile
    processor = LlavaNextImageProcessorPil(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    return tiny_backbone(Granite4, config, processor)


def test_the_checkpoints_settings_derived_from_the_modeling_code_feed_every_layer_of_the_map(granite: Granite4) -> None:
    config = granite.model.config
    assert config.downsample_rate == "1/2" and [list(pair) for pair in config.deepstack_layer_map] == [
        [config.vision_feature_layer, 0]
    ]
    assert sorted({0, *config.spatial_target_layers}) == list(range(config.text_config.num_hidden_layers))


def test_per_layer_features_reach_the_language_model_as_in_the_models_own_forward(granite: Granite4) -> None:
    tokens = assert_kept_features_reach_the_language_model(granite)
    assert not tokens.any()  # the placeholders' embeddings are zeros, as the model's own forward makes them
