"""BaseRoboVLM reports every broken attribute at once, and builds checkpoints only as configured."""

from __future__ import annotations

import pytest
from torch import nn

from robovlms import BaseRoboVLM, ConfigError, PluginError
from robovlms.config import VLMConfig


class Broken(BaseRoboVLM):
    name = "broken"

    def __init__(self) -> None:  # no checkpoint: the attributes are what is under test
        nn.Module.__init__(self)

    @property
    def hidden_size(self) -> int:
        return 0

    @property
    def word_embedding(self) -> nn.Module:
        return nn.Linear(2, 2)

    @property
    def image_processor(self) -> str:
        return "siglip"


def test_validate_attributes_lists_every_problem_at_once() -> None:
    with pytest.raises(PluginError) as excinfo:
        Broken().validate_attributes()
    message = str(excinfo.value)
    assert "\n" not in message and message.startswith("backbone 'broken' (Broken) breaks the contract")
    for part in (
        "image_processor must be a robovlms.ImageProcessor",
        "hidden_size must be a positive int",
        "word_embedding must be a torch.nn.Embedding",
        "text_tower is missing",
        "vision_tower is missing",
        "model is missing",
    ):
        assert part in message


def test_weights_need_a_source() -> None:
    with pytest.raises(ConfigError, match=r"set vlm.model_name .* or vlm.preset"):
        Broken.from_config(VLMConfig())


def test_unknown_preset_lists_the_available_ones() -> None:
    with pytest.raises(ConfigError, match="backbone 'broken' has no preset 'huge'; available: tiny, full"):
        Broken.from_config(VLMConfig(preset="huge"))
