"""The conformance suite for the kosmos2 backbone, plus what is special to Kosmos-2."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import Kosmos2ForConditionalGeneration

from robovlms import BaseRoboVLM
from robovlms.errors import PluginError
from robovlms.testing import BackboneConformance
from robovlms_kosmos2.configuration_kosmos2 import preset_config


class TestKosmos2(BackboneConformance):
    backbone = "kosmos2"
    # the instruction's own characters take ids inside the image's id range (bytes after <unk>)
    instructions = ["pick up the red block", '!"#$%&']

    def test_image_placeholders_are_positions_not_ids(
        self, robovlm: BaseRoboVLM, inputs: dict[str, torch.Tensor]
    ) -> None:
        """Kosmos2Processor numbers the image's placeholders <unk>+1 onwards, ids text also uses (finding 3):
        the mask marks exactly the positions after ``<image>``, never the instruction's equal ids."""
        ids, slots = inputs["input_ids"], robovlm.image_slots(inputs["input_ids"])
        image_ids = list(robovlm.image_token_id)
        for row in range(2):
            assert ids[row][slots[row]].tolist() == image_ids
        assert torch.isin(ids[1][~slots[1]], torch.tensor(image_ids)).any(), "the instruction reuses image ids"

    def test_positions_ignore_left_padding(self, robovlm: BaseRoboVLM, inputs: dict[str, torch.Tensor]) -> None:
        """Kosmos-2 counts positions over real tokens: a padded prompt reads as it does alone."""
        padded = inputs["attention_mask"][1].eq(0).sum().item()
        assert padded > 0
        with torch.no_grad():
            batch = robovlm(**inputs)[1, padded:]
            alone = robovlm(
                inputs["pixel_values"][1:],
                inputs["input_ids"][1:, padded:],
                inputs["attention_mask"][1:, padded:],
            )[0]
        torch.testing.assert_close(batch, alone, atol=1e-5, rtol=0)

    def test_default_reference_forward_names_what_to_override(
        self, robovlm: BaseRoboVLM, inputs: dict[str, torch.Tensor]
    ) -> None:
        """Kosmos-2's own forward has no ``last_hidden_state``: the core's default says so in one line (finding 5)."""
        with pytest.raises(PluginError, match="reference_forward to return") as excinfo:
            BaseRoboVLM.reference_forward(robovlm, **inputs)
        assert "\n" not in str(excinfo.value) and "'kosmos2'" in str(excinfo.value)


def test_full_preset_is_kosmos_2_patch14_224() -> None:
    """microsoft/kosmos-2-patch14-224: 1.66B parameters, 64 image tokens."""
    config = preset_config("full", None)
    with torch.device("meta"):
        model = Kosmos2ForConditionalGeneration(config)
    assert round(sum(p.numel() for p in model.parameters()) / 1e7) == 166  # the model card's 1.66B
    assert (config.latent_query_num, config.vision_config.image_size, config.text_config.vocab_size) == (64, 224, 65037)


def test_image_tokens_do_not_depend_on_the_frame(tmp_path: object) -> None:
    frames = np.zeros((1, 40, 90, 3), np.uint8)
    from robovlms.config import Config
    from robovlms.model.components import build_backbone

    backbone = build_backbone(Config.model_validate({"model": {"backbone": "kosmos2"}, "vlm": {"preset": "tiny"}}))
    with torch.no_grad():
        assert backbone.encode_images(backbone.image_processor(frames)).shape == (1, 16, 64)
