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


@pytest.mark.parametrize("mode", ["interleaved", "one_step"])
def test_vla_hidden_states_are_kosmos_own_over_the_same_sequence(mode: str) -> None:
    """Over the sequence the VLA builds (padding frames in ``interleaved`` mode included), Kosmos-2's own text
    decoder, with positions from its own padding-aware rule, gives the same hidden states."""
    from transformers.models.kosmos2.modeling_kosmos2 import Kosmos2TextSinusoidalPositionalEmbedding as Positions

    from robovlms import build_vla
    from robovlms.config import Config

    config = Config.model_validate(
        {
            "model": {"backbone": "kosmos2", "action_head": "mlp", "history_mode": mode, "history_length": 3},
            "vlm": {"preset": "tiny"},
        }
    )
    vla = build_vla(config).eval()
    backbone = vla.backbone
    seen: list[tuple[torch.Tensor, torch.Tensor]] = []
    original = backbone.forward_text
    backbone.forward_text = lambda embeds, mask, **kw: seen.append((embeds, mask)) or original(embeds, mask, **kw)  # type: ignore[method-assign]
    images = np.random.default_rng(0).integers(0, 256, size=(2, 3, 32, 32, 3), dtype=np.uint8)
    with torch.no_grad():
        vla(images, ["pick up the red block", "push"], torch.tensor([[True, True, True], [True, True, False]]))
        embeds, mask = seen[0]
        pad = backbone.model.config.text_config.pad_token_id
        positions = Positions.create_position_ids_from_input_ids(torch.where(mask.bool(), pad + 1, pad), pad)
        own = backbone.text_tower(inputs_embeds=embeds, attention_mask=mask, position_ids=positions).last_hidden_state
        ours = original(embeds, mask)
    assert not mask.all(), "the sequence has padding"
    torch.testing.assert_close(ours[mask.bool()], own[mask.bool()], atol=1e-5, rtol=0)


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
