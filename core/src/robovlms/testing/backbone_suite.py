"""The conformance suite a backbone plugin's tests subclass: the backbone contract, checked the same way for all.

A plugin's test file names its backbone and, if needed, its ``vlm`` section::

    from robovlms.testing import BackboneConformance

    class TestPaliGemma(BackboneConformance):
        backbone = "paligemma"

The backbone is loaded through its installed entry point, exactly as a user's config would load it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
import torch

from robovlms.config import Config
from robovlms.errors import CheckpointError, InputError, RoboVLMsError
from robovlms.model.backbone import BaseRoboVLM
from robovlms.model.components import build_backbone
from robovlms.plugins.kinds import BACKBONE
from robovlms.testing.registration import copy_folder, entry_point_imports_no_torch, listed_as_ok, one_line_error


def assert_matches_own_forward(
    robovlm: BaseRoboVLM,
    pixel_values: torch.Tensor,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    *,
    atol: float,
) -> torch.Tensor:
    """robovlms's hidden states for images and prompts, checked against the VLM's own forward.

    They must have the contract's shape ``(B, L, hidden_size)`` and equal :meth:`BaseRoboVLM.reference_forward`
    within ``atol`` at the positions the attention mask keeps (the padding's states are nobody's to match).
    Returns robovlms's states, computed without gradients, for further checks.
    """
    with torch.no_grad():
        ours = robovlm(pixel_values, input_ids, attention_mask)
        theirs = robovlm.reference_forward(pixel_values, input_ids, attention_mask)
    valid = attention_mask.bool()
    assert ours.shape == (*input_ids.shape, robovlm.hidden_size)
    torch.testing.assert_close(ours[valid], theirs[valid], atol=atol, rtol=0)
    return ours


class BackboneConformance:
    """Checks the backbone contract of one installed backbone plugin."""

    #: the backbone's entry-point name
    backbone: ClassVar[str] = ""
    #: the ``vlm`` section used to build it; a tiny preset keeps the suite fast
    vlm: ClassVar[dict[str, Any]] = {"preset": "tiny"}
    #: largest difference allowed between robovlms's hidden states and the VLM's own
    fidelity_atol: ClassVar[float] = 1e-4
    instructions: ClassVar[list[str]] = ["pick up the red block", "push the blue cube to the left"]

    @classmethod
    def make_config(cls, **training: Any) -> Config:
        return Config.model_validate({"model": {"backbone": cls.backbone}, "vlm": cls.vlm, "training": training})

    @pytest.fixture(scope="class")
    @classmethod
    def robovlm(cls) -> BaseRoboVLM:
        return build_backbone(cls.make_config())

    @pytest.fixture(scope="class")
    @classmethod
    def frames(cls) -> np.ndarray:
        return np.random.default_rng(0).integers(0, 256, size=(2, 48, 64, 3), dtype=np.uint8)

    @pytest.fixture(scope="class")
    @classmethod
    def inputs(cls, robovlm: BaseRoboVLM, frames: np.ndarray) -> dict[str, Any]:
        return cls.make_inputs(robovlm, frames)

    @classmethod
    def make_inputs(cls, robovlm: BaseRoboVLM, frames: np.ndarray) -> dict[str, Any]:
        """Processed frames and the prompts built for their size."""
        pixels = robovlm.image_processor(frames)
        return {"pixel_values": pixels, **robovlm.prompts_for(cls.instructions, (pixels.shape[-2], pixels.shape[-1]))}

    @pytest.fixture(scope="class")
    @classmethod
    def saved(cls, robovlm: BaseRoboVLM, tmp_path_factory: pytest.TempPathFactory) -> Path:
        directory = tmp_path_factory.mktemp(f"{cls.backbone}-checkpoint")
        robovlm.save_pretrained(directory)
        return directory

    # -- registration ----------------------------------------------------------------------------

    def test_listed_as_ok(self) -> None:
        listed_as_ok(BACKBONE, self.backbone)

    def test_entry_point_module_imports_no_torch(self) -> None:
        entry_point_imports_no_torch(BACKBONE, self.backbone)

    def test_attributes(self, robovlm: BaseRoboVLM) -> None:
        assert robovlm.attribute_problems() == []
        assert robovlm.name == self.backbone

    # -- images ----------------------------------------------------------------------------------

    def test_image_processor_takes_uint8_batches(self, robovlm: BaseRoboVLM, frames: np.ndarray) -> None:
        size = robovlm.image_processor.output_size(*frames.shape[1:3])
        batch = robovlm.image_processor(frames)
        assert batch.shape == (2, 3, *size) and batch.dtype == torch.float32
        torch.testing.assert_close(robovlm.image_processor(frames[0]), batch[:1])

    @pytest.mark.parametrize(
        "bad", [np.zeros((8, 8, 3), np.float32), np.zeros((8, 8, 4), np.uint8), np.zeros((8, 8), np.uint8)]
    )
    def test_image_processor_rejects_bad_frames(self, robovlm: BaseRoboVLM, bad: np.ndarray) -> None:
        with pytest.raises(InputError) as excinfo:
            robovlm.image_processor(bad)
        assert "image" in one_line_error(excinfo)

    def test_encoded_images(self, robovlm: BaseRoboVLM, inputs: dict[str, torch.Tensor]) -> None:
        with torch.no_grad():
            tokens = robovlm.encode_images(inputs["pixel_values"])
        assert tokens.ndim == 3 and tokens.shape[0] == 2
        if robovlm.fusion == "tokens":
            assert tokens.shape[-1] == robovlm.hidden_size
            per_prompt = robovlm.image_slots(inputs["input_ids"]).sum(dim=1)
            assert per_prompt.tolist() == [tokens.shape[1]] * 2, "prompt placeholders must match image tokens"
        else:
            token = robovlm.image_token_id
            assert token is None or not robovlm.image_slots(inputs["input_ids"]).any(), (
                "cross-attention adds no image tokens"
            )

    # -- the forward pass ------------------------------------------------------------------------

    def test_fidelity(self, robovlm: BaseRoboVLM, inputs: dict[str, torch.Tensor]) -> None:
        assert_matches_own_forward(robovlm, **inputs, atol=self.fidelity_atol)

    def test_images_change_hidden_states(self, robovlm: BaseRoboVLM, inputs: dict[str, torch.Tensor]) -> None:
        with torch.no_grad():
            base = robovlm(**inputs)
            other = robovlm(**{**inputs, "pixel_values": inputs["pixel_values"].flip(-1)})
        assert (base[:, -1] - other[:, -1]).abs().max() > 1e-6, "the last prompt token must see the image"

    def test_gradient_reaches_trainable_parts(self, frames: np.ndarray) -> None:
        robovlm = build_backbone(self.make_config(freeze_vision_tower=False))
        robovlm.train()
        inputs = self.make_inputs(robovlm, frames)
        robovlm(**inputs).pow(2).mean().backward()
        for part in ("vision_tower", "text_tower", "word_embedding"):
            grads = [p.grad for p in getattr(robovlm, part).parameters() if p.requires_grad]
            assert grads and any(g is not None and g.abs().sum() > 0 for g in grads), f"no gradient in {part}"

    def test_gradient_checkpointing(self, frames: np.ndarray) -> None:
        robovlm = build_backbone(self.make_config(gradient_checkpointing=True, freeze_vision_tower=False))
        assert robovlm.gradient_checkpointing
        robovlm.train()
        inputs = self.make_inputs(robovlm, frames)
        robovlm(**inputs).pow(2).mean().backward()
        assert robovlm.word_embedding.weight.grad is not None

    @pytest.mark.parametrize(
        ("switches", "frozen_part"),
        [
            ({"freeze_vision_tower": True}, "vision_tower"),
            ({"freeze_vision_tower": False, "freeze_language_model": True}, "text_tower"),
            ({"freeze_vision_tower": False, "freeze_embeddings": True}, "word_embedding"),
        ],
    )
    def test_freezing(self, switches: dict[str, bool], frozen_part: str) -> None:
        robovlm = build_backbone(self.make_config(**switches))
        # the text tower may hold the vision tower and the embeddings: their own switches win there
        inner = {id(p) for m in (robovlm.vision_tower, robovlm.word_embedding) for p in m.parameters()}
        part = getattr(robovlm, frozen_part)
        inside = [p for p in part.parameters() if frozen_part != "text_tower" or id(p) not in inner]
        assert inside and not any(p.requires_grad for p in inside)
        trainable = sum(p.numel() for p in robovlm.parameters() if p.requires_grad)
        assert 0 < trainable < sum(p.numel() for p in robovlm.parameters())
        if frozen_part != "text_tower":
            assert any(p.requires_grad for p in robovlm.text_tower.parameters())

    # -- weights from a directory ----------------------------------------------------------------

    def test_loads_from_saved_directory(
        self, robovlm: BaseRoboVLM, saved: Path, inputs: dict[str, torch.Tensor], frames: np.ndarray
    ) -> None:
        loaded = build_backbone(
            Config.model_validate({"model": {"backbone": self.backbone}, "vlm": {"model_name": str(saved)}})
        )
        assert repr(loaded.image_processor) == repr(robovlm.image_processor)
        assert self.make_inputs(loaded, frames)["input_ids"].tolist() == inputs["input_ids"].tolist()
        with torch.no_grad():
            torch.testing.assert_close(loaded(**inputs), robovlm(**inputs))

    def _load(self, source: Path | str, **vlm: Any) -> pytest.ExceptionInfo[RoboVLMsError]:
        config = Config.model_validate(
            {"model": {"backbone": self.backbone}, "vlm": {"model_name": str(source), **vlm}}
        )
        with pytest.raises(RoboVLMsError) as excinfo:
            build_backbone(config)
        one_line_error(excinfo)
        return excinfo

    def test_missing_directory_isone_line_error(self, tmp_path: Path) -> None:
        assert "no such directory" in str(self._load(tmp_path / "absent").value)

    def test_corrupt_config_isone_line_error(self, saved: Path, tmp_path: Path) -> None:
        broken = copy_folder(saved, tmp_path / "broken")
        (broken / "config.json").write_text("{ not json")
        assert isinstance(self._load(broken).value, CheckpointError)

    def test_truncated_weights_areone_line_error(self, saved: Path, tmp_path: Path) -> None:
        broken = copy_folder(saved, tmp_path / "truncated")
        for weights in broken.glob("*.safetensors"):
            weights.write_bytes(weights.read_bytes()[:100])
        assert "weights" in str(self._load(broken).value)

    def test_other_architecture_isone_line_error(self, tmp_path: Path) -> None:
        from transformers import GPT2Config

        GPT2Config(n_layer=1, n_embd=8, n_head=2, vocab_size=300).save_pretrained(tmp_path)
        assert "'gpt2'" in str(self._load(tmp_path).value)

    def test_remote_code_needs_consent(self, saved: Path, tmp_path: Path) -> None:
        custom = copy_folder(saved, tmp_path / "custom")
        config = json.loads((custom / "config.json").read_text())
        config["auto_map"] = {"AutoConfig": "configuration_custom.CustomConfig"}
        (custom / "config.json").write_text(json.dumps(config))
        (custom / "configuration_custom.py").write_text("raise SystemExit('remote code ran')\n")
        assert "trust_remote_code" in str(self._load(custom).value)
