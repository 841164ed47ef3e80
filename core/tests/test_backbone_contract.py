"""BaseRoboVLM reports every broken attribute at once, and builds checkpoints only as configured."""

from __future__ import annotations

from pathlib import Path

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


class Towerless(BaseRoboVLM):
    """Wraps a model without the LLaVA layout: the default towers cannot be found."""

    name = "towerless"

    def __init__(self) -> None:
        nn.Module.__init__(self)
        self.model = nn.Sequential(nn.Linear(2, 2))


class LLaVALayout(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.model = nn.Module()
        self.model.language_model = nn.Linear(2, 2)
        self.model.vision_tower = nn.Linear(3, 3)


def test_default_towers_follow_the_llava_layout_or_say_what_is_missing() -> None:
    found = Towerless()
    found.model = LLaVALayout()
    assert found.text_tower is found.model.model.language_model
    assert found.vision_tower is found.model.model.vision_tower
    message = "; ".join(Towerless().attribute_problems())
    for tower, part in (("text_tower", "language_model"), ("vision_tower", "vision_tower")):
        assert f"{tower} is missing (Towerless must define {tower}: Sequential has no model.{part})" in message


def test_preset_settings_resize_the_vision_encoder_and_refuse_partial_patches() -> None:
    from robovlms.model.presets import preset_settings

    presets = {"tiny": {"vision_config": {"image_size": [32, 32], "patch_size": 8}, "vocab_size": 300}}
    resized = preset_settings(presets, "tiny", 48)
    assert resized == {"vision_config": {"image_size": [48, 48], "patch_size": 8}, "vocab_size": 300}
    assert presets["tiny"]["vision_config"]["image_size"] == [32, 32], "the module's presets stay as written"
    assert preset_settings(presets, "tiny", None) == presets["tiny"]
    with pytest.raises(ConfigError, match=r"vlm\.image_size 50 must be a multiple of the patch size 8"):
        preset_settings(presets, "tiny", 50)


class Recorder(BaseRoboVLM):
    """Records what ``forward_text`` is given; no model needed for that."""

    name = "recorder"

    def __init__(self) -> None:
        nn.Module.__init__(self)
        self.given: list[str] = []


class OldSignature(Recorder):
    def forward_text(self, inputs_embeds, attention_mask, **kwargs):  # type: ignore[no-untyped-def,override]
        self.given = sorted(kwargs)  # a 1.0 plugin may pass these on to transformers, which refuses unknown ones
        return inputs_embeds


class NewSignature(Recorder):
    def forward_text(self, inputs_embeds, attention_mask, *, image_index, image_layout, **kwargs):  # type: ignore[no-untyped-def,override]
        self.given = sorted([*kwargs, "image_index", "image_layout"])
        assert image_index.tolist() == [[0, 0, -1]] and image_layout.grid == (1, 2)
        return inputs_embeds


def test_plugin_api_1_2_arguments_reach_only_a_forward_text_that_names_them() -> None:
    import torch

    from robovlms.model.sequence import ImageLayout

    arguments = {
        "image_index": torch.tensor([[0, 0, -1]]),
        "image_layout": ImageLayout(28, 56, tokens=2, grid=(1, 2)),
        "prefix_mask": torch.ones(1, 3, dtype=torch.bool),
    }
    old, new = OldSignature(), NewSignature()
    for backbone in (old, new):
        backbone.text_pass(torch.zeros(1, 3, 4), torch.ones(1, 3), **arguments)
    assert old.given == ["prefix_mask"]
    assert new.given == ["image_index", "image_layout", "prefix_mask"]


def test_image_processor_says_which_resizing_rule_it_follows() -> None:
    from transformers import CLIPImageProcessorPil, SiglipImageProcessorPil

    from robovlms.model.images import ImageProcessor

    fixed = ImageProcessor.from_transformers(SiglipImageProcessorPil(size={"height": 32, "width": 32}))
    cropped = ImageProcessor.from_transformers(
        CLIPImageProcessorPil(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    )
    assert (fixed.rule, fixed.output_size(48, 64)) == ("fixed", (32, 32))
    assert (cropped.rule, cropped.output_size(48, 64)) == ("shortest_edge", (32, 32))


def test_image_processor_keeps_bilinear_through_a_saved_preprocessor_config(tmp_path: Path) -> None:
    """A loaded processor holds PIL's number (2), not its enum: read as bicubic, a reloaded backbone's
    frames would be resized differently from the ones it was trained on."""
    from transformers import AutoImageProcessor, Idefics2ImageProcessorPil

    from robovlms.model.images import ImageProcessor

    Idefics2ImageProcessorPil(size={"height": 32, "width": 32}).save_pretrained(tmp_path)
    loaded = AutoImageProcessor.from_pretrained(tmp_path)
    assert ImageProcessor.from_transformers(loaded).resample == "bilinear"


def test_image_processor_rescales_by_the_checkpoints_factor() -> None:
    """Chameleon's processor rescales by 1/128 with mean and std 1, mapping pixels to [-1, 1]; read as 1/255,
    every frame a real Chameleon checkpoint sees would sit in [-1, 0]."""
    import numpy as np
    from transformers import ChameleonImageProcessorPil

    from robovlms.model.images import ImageProcessor

    theirs = ChameleonImageProcessorPil(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    ours = ImageProcessor.from_transformers(theirs)
    frame = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    expected = theirs(images=frame, return_tensors="pt")["pixel_values"]
    assert ours.rescale == theirs.rescale_factor
    assert (ours(frame) - expected).abs().max() < 1e-5


class OldTokenize(Recorder):
    def tokenize(self, instructions):  # type: ignore[no-untyped-def,override]  # plugin API 1.0's signature
        self.given = list(instructions)
        return {"input_ids": None, "attention_mask": None}


def test_a_1_0_tokenize_override_is_called_as_written() -> None:
    backbone = OldTokenize()
    backbone.prompts_for(["pick"], (28, 56))
    assert backbone.given == ["pick"]
