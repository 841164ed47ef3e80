"""The conformance suites that a plugin's tests subclass: one for backbones, one for action heads.

A plugin's test file names its component and, if needed, its config; every check of the contract
comes from here, so all plugins are held to the same standard::

    from robovlms.testing import BackboneConformance, HeadConformance

    class TestPaliGemma(BackboneConformance):
        backbone = "paligemma"

    class TestLSTM(HeadConformance):
        head = "lstm"

Each suite loads its component through the installed entry point, exactly as a user's config would.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any, ClassVar, get_args

import numpy as np
import pytest
import torch

from robovlms.action_head import BaseActionHead, HeadSpec
from robovlms.backbone import BaseRoboVLM
from robovlms.building import build_backbone, build_head
from robovlms.config import ActionHeadConfig, Config, HistoryMode
from robovlms.discovery import GROUPS, Kind, discover
from robovlms.errors import CheckpointError, ConfigError, InputError, RoboVLMsError
from robovlms.plugins import load


def _one_line_error(excinfo: pytest.ExceptionInfo[BaseException]) -> str:
    message = str(excinfo.value)
    assert message and "\n" not in message, f"expected a one-line message, got {message!r}"
    return message


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
    def inputs(cls, robovlm: BaseRoboVLM, frames: np.ndarray) -> dict[str, torch.Tensor]:
        return {"pixel_values": robovlm.image_processor(frames), **robovlm.tokenize(cls.instructions)}

    @pytest.fixture(scope="class")
    @classmethod
    def saved(cls, robovlm: BaseRoboVLM, tmp_path_factory: pytest.TempPathFactory) -> Path:
        directory = tmp_path_factory.mktemp(f"{cls.backbone}-checkpoint")
        robovlm.save_pretrained(directory)
        return directory

    # -- registration ----------------------------------------------------------------------------

    def test_listed_as_ok(self) -> None:
        _listed_as_ok("backbone", self.backbone)

    def test_entry_point_module_imports_no_torch(self) -> None:
        _entry_point_imports_no_torch("backbone", self.backbone)

    def test_attributes(self, robovlm: BaseRoboVLM) -> None:
        assert robovlm.attribute_problems() == []
        assert robovlm.name == self.backbone

    # -- images ----------------------------------------------------------------------------------

    def test_image_processor_takes_uint8_batches(self, robovlm: BaseRoboVLM, frames: np.ndarray) -> None:
        size = robovlm.image_processor.size
        batch = robovlm.image_processor(frames)
        assert batch.shape == (2, 3, size, size) and batch.dtype == torch.float32
        torch.testing.assert_close(robovlm.image_processor(frames[0]), batch[:1])

    @pytest.mark.parametrize(
        "bad", [np.zeros((8, 8, 3), np.float32), np.zeros((8, 8, 4), np.uint8), np.zeros((8, 8), np.uint8)]
    )
    def test_image_processor_rejects_bad_frames(self, robovlm: BaseRoboVLM, bad: np.ndarray) -> None:
        with pytest.raises(InputError) as excinfo:
            robovlm.image_processor(bad)
        assert "image" in _one_line_error(excinfo)

    def test_encoded_images(self, robovlm: BaseRoboVLM, inputs: dict[str, torch.Tensor]) -> None:
        with torch.no_grad():
            tokens = robovlm.encode_images(inputs["pixel_values"])
        assert tokens.ndim == 3 and tokens.shape[0] == 2
        if robovlm.fusion == "tokens":
            assert tokens.shape[-1] == robovlm.hidden_size
            per_prompt = (inputs["input_ids"] == robovlm.image_token_id).sum(dim=1)
            assert per_prompt.tolist() == [tokens.shape[1]] * 2, "prompt placeholders must match image tokens"
        else:
            assert not (inputs["input_ids"] == robovlm.image_token_id).any(), "cross-attention adds no image tokens"

    # -- the forward pass ------------------------------------------------------------------------

    def test_fidelity(self, robovlm: BaseRoboVLM, inputs: dict[str, torch.Tensor]) -> None:
        with torch.no_grad():
            ours = robovlm(**inputs)
            theirs = robovlm.reference_forward(**inputs)
        valid = inputs["attention_mask"].bool()
        assert ours.shape == (*inputs["input_ids"].shape, robovlm.hidden_size)
        torch.testing.assert_close(ours[valid], theirs[valid], atol=self.fidelity_atol, rtol=0)

    def test_images_change_hidden_states(self, robovlm: BaseRoboVLM, inputs: dict[str, torch.Tensor]) -> None:
        with torch.no_grad():
            base = robovlm(**inputs)
            other = robovlm(**{**inputs, "pixel_values": inputs["pixel_values"].flip(-1)})
        assert (base[:, -1] - other[:, -1]).abs().max() > 1e-6, "the last prompt token must see the image"

    def test_gradient_reaches_trainable_parts(self, frames: np.ndarray) -> None:
        robovlm = build_backbone(self.make_config(freeze_vision_tower=False))
        robovlm.train()
        inputs = {"pixel_values": robovlm.image_processor(frames), **robovlm.tokenize(self.instructions)}
        robovlm(**inputs).pow(2).mean().backward()
        for part in ("vision_tower", "text_tower", "word_embedding"):
            grads = [p.grad for p in getattr(robovlm, part).parameters() if p.requires_grad]
            assert grads and any(g is not None and g.abs().sum() > 0 for g in grads), f"no gradient in {part}"

    def test_gradient_checkpointing(self, frames: np.ndarray) -> None:
        robovlm = build_backbone(self.make_config(gradient_checkpointing=True, freeze_vision_tower=False))
        assert robovlm.gradient_checkpointing
        robovlm.train()
        inputs = {"pixel_values": robovlm.image_processor(frames), **robovlm.tokenize(self.instructions)}
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
        self, robovlm: BaseRoboVLM, saved: Path, inputs: dict[str, torch.Tensor]
    ) -> None:
        loaded = build_backbone(
            Config.model_validate({"model": {"backbone": self.backbone}, "vlm": {"model_name": str(saved)}})
        )
        assert loaded.image_processor.size == robovlm.image_processor.size
        assert loaded.tokenize(self.instructions)["input_ids"].tolist() == inputs["input_ids"].tolist()
        with torch.no_grad():
            torch.testing.assert_close(loaded(**inputs), robovlm(**inputs))

    def _load(self, source: Path | str, **vlm: Any) -> pytest.ExceptionInfo[RoboVLMsError]:
        config = Config.model_validate(
            {"model": {"backbone": self.backbone}, "vlm": {"model_name": str(source), **vlm}}
        )
        with pytest.raises(RoboVLMsError) as excinfo:
            build_backbone(config)
        _one_line_error(excinfo)
        return excinfo

    def test_missing_directory_is_one_line_error(self, tmp_path: Path) -> None:
        assert "no such directory" in str(self._load(tmp_path / "absent").value)

    def test_corrupt_config_is_one_line_error(self, saved: Path, tmp_path: Path) -> None:
        broken = _copy(saved, tmp_path / "broken")
        (broken / "config.json").write_text("{ not json")
        assert isinstance(self._load(broken).value, CheckpointError)

    def test_truncated_weights_are_one_line_error(self, saved: Path, tmp_path: Path) -> None:
        broken = _copy(saved, tmp_path / "truncated")
        for weights in broken.glob("*.safetensors"):
            weights.write_bytes(weights.read_bytes()[:100])
        assert "weights" in str(self._load(broken).value)

    def test_other_architecture_is_one_line_error(self, tmp_path: Path) -> None:
        from transformers import GPT2Config

        GPT2Config(n_layer=1, n_embd=8, n_head=2, vocab_size=300).save_pretrained(tmp_path)
        assert "'gpt2'" in str(self._load(tmp_path).value)

    def test_remote_code_needs_consent(self, saved: Path, tmp_path: Path) -> None:
        custom = _copy(saved, tmp_path / "custom")
        config = json.loads((custom / "config.json").read_text())
        config["auto_map"] = {"AutoConfig": "configuration_custom.CustomConfig"}
        (custom / "config.json").write_text(json.dumps(config))
        (custom / "configuration_custom.py").write_text("raise SystemExit('remote code ran')\n")
        assert "trust_remote_code" in str(self._load(custom).value)


def _listed_as_ok(kind: Kind, name: str) -> None:
    found = {p.name: p for p in discover(kind)}
    assert name in found, f"no {GROUPS[kind]} entry point named {name!r}"
    assert found[name].status == "ok", found[name].reason


def _entry_point_imports_no_torch(kind: Kind, name: str) -> None:
    (info,) = [p for p in discover(kind) if p.name == name]
    _imports_no_torch(info.entry_point.module)


def _imports_no_torch(module: str) -> None:
    """Listing plugins imports every entry-point module: torch or transformers there would make it slow."""
    code = (
        f"import importlib, json, sys; importlib.import_module({module!r}); "
        "print(json.dumps(sorted({'torch', 'transformers'} & set(sys.modules))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == [], f"importing {module} imports {out.strip()}"


class HeadConformance:
    """Checks the action-head contract of one installed action-head plugin.

    Every check runs in each history mode the head declares, with small shapes and dropout off, so
    the suite is deterministic and takes seconds. Modes differ, for a head, only in how many frames
    arrive: one in ``one_step``, the window in ``interleaved`` and ``policy_head``.
    """

    #: the head's entry-point name
    head: ClassVar[str] = ""
    #: the ``action_head`` section it is built with (``type`` is set to ``head``)
    action_head: ClassVar[dict[str, Any]] = {"hidden_size": 32, "num_layers": 2, "dropout": 0.0}
    input_size: ClassVar[int] = 12
    action_dim: ClassVar[int] = 7
    chunk_size: ClassVar[int] = 3
    history_length: ClassVar[int] = 4

    @classmethod
    def build(cls, tokens: int = 1, seed: int = 0) -> BaseActionHead:
        """The head as ``build_vla`` makes it, for a backbone of width ``input_size``."""
        spec = HeadSpec(cls.input_size, cls.action_dim, cls.chunk_size, cls.history_length, tokens)
        config = ActionHeadConfig(**{**cls.action_head, "type": cls.head})
        return build_head(load("action_head", cls.head), config, spec, seed)

    def features(self, batch: int, frames: int, tokens: int = 1, seed: int = 1) -> torch.Tensor:
        generator = torch.Generator().manual_seed(seed)
        return torch.randn(batch, frames, tokens, self.input_size, generator=generator)

    def actions(self, batch: int, frames: int, seed: int = 2) -> torch.Tensor:
        """Normalized targets: arm values in [-1, 1], the gripper at -1 or +1."""
        generator = torch.Generator().manual_seed(seed)
        arm = torch.rand(batch, frames, self.chunk_size, self.action_dim - 1, generator=generator) * 2 - 1
        gripper = torch.randint(0, 2, (batch, frames, self.chunk_size, 1), generator=generator) * 2.0 - 1
        return torch.cat([arm, gripper], dim=-1)

    def frames(self, mode: HistoryMode) -> int:
        return 1 if mode == "one_step" else self.history_length

    def window(self) -> int:
        """The most frames the head is ever given: the window, unless it serves one_step alone."""
        return max(self.frames(mode) for mode in load("action_head", self.head).history_modes)

    def run(self, head: BaseActionHead, features: torch.Tensor, frame_mask: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return head.eval()(features, frame_mask)

    # -- registration ----------------------------------------------------------------------------

    def test_listed_as_ok(self) -> None:
        _listed_as_ok("action_head", self.head)

    def test_entry_point_module_imports_no_torch(self) -> None:
        _entry_point_imports_no_torch("action_head", self.head)

    def test_loads_by_name(self) -> None:
        cls = load("action_head", self.head)
        assert issubclass(cls, BaseActionHead) and cls.name == self.head

    def test_history_modes(self) -> None:
        head = self.build()
        assert head.history_modes and set(head.history_modes) <= set(get_args(HistoryMode))
        for mode in get_args(HistoryMode):
            if mode in head.history_modes:
                head.check_mode(mode)
                continue
            with pytest.raises(ConfigError) as excinfo:
                head.check_mode(mode)
            message = _one_line_error(excinfo)
            assert self.head in message and mode in message
            assert head.mode_reason, "a head that refuses a mode says why in mode_reason"

    # -- shapes ----------------------------------------------------------------------------------

    @pytest.mark.parametrize("tokens", [1, 2])
    def test_shapes_in_each_history_mode(self, tokens: int) -> None:
        head = self.build(tokens)
        for mode in head.history_modes:
            frames = self.frames(mode)
            prediction = self.run(head, self.features(2, frames, tokens), torch.ones(2, frames, dtype=torch.bool))
            expected = (2, frames, self.chunk_size, self.action_dim)
            assert tuple(prediction.shape[:4]) == expected, f"{mode}: prediction {tuple(prediction.shape)}"
            decoded = head.decode(prediction)
            assert tuple(decoded.shape) == expected, f"{mode}: decoded {tuple(decoded.shape)}"
            assert torch.isfinite(decoded).all()
            gripper = decoded[..., -1]
            assert ((gripper >= 0) & (gripper <= 1)).all(), "the gripper decodes to a probability of open"

    # -- masking ---------------------------------------------------------------------------------

    def padded_mask(self, frames: int, padding: list[int]) -> torch.Tensor:
        """``padding[b]`` padding frames at the end of row ``b``, as when a window runs past its episode."""
        return torch.arange(frames)[None, :] < frames - torch.tensor(padding)[:, None]

    def test_padding_frames_never_reach_real_frames(self) -> None:
        window = self.window()
        head = self.build()
        padding = [0, window // 2, window - 1]
        features, frame_mask = self.features(3, window), self.padded_mask(window, padding)
        noisy = torch.where(frame_mask[..., None, None], features, 100 * self.features(3, window, seed=9))
        batched = self.run(head, features, frame_mask)
        torch.testing.assert_close(self.run(head, noisy, frame_mask)[frame_mask], batched[frame_mask])
        for row, pad in enumerate(padding):
            real = window - pad
            alone = self.run(head, features[row : row + 1, :real], torch.ones(1, real, dtype=torch.bool))
            torch.testing.assert_close(batched[row, :real], alone[0], atol=1e-5, rtol=1e-5)

    def test_frames_see_only_the_past(self) -> None:
        """A frame that saw later frames in training would read the effects of the actions it predicts."""
        window = self.window()
        head = self.build()
        features, frame_mask = self.features(2, window), torch.ones(2, window, dtype=torch.bool)
        changed = features.clone()
        changed[:, -1] += 1.0
        before, after = self.run(head, features, frame_mask), self.run(head, changed, frame_mask)
        torch.testing.assert_close(before[:, :-1], after[:, :-1])
        assert not torch.allclose(before[:, -1], after[:, -1]), "a frame's prediction must depend on the frame"

    def test_loss_ignores_masked_steps(self) -> None:
        window = self.window()
        head = self.build()
        prediction = self.run(head, self.features(3, window), torch.ones(3, window, dtype=torch.bool))
        targets, others = self.actions(3, window), self.actions(3, window, seed=4)
        action_mask = torch.rand(3, window, self.chunk_size, generator=torch.Generator().manual_seed(3)) > 0.4
        base = head.loss(prediction, targets, action_mask)["loss"]
        assert base.ndim == 0 and torch.isfinite(base)
        masked_changed = torch.where(action_mask[..., None], targets, others)
        real_changed = torch.where(action_mask[..., None], others, targets)
        torch.testing.assert_close(head.loss(prediction, masked_changed, action_mask)["loss"], base)
        assert not torch.allclose(head.loss(prediction, real_changed, action_mask)["loss"], base)

    # -- training and weights --------------------------------------------------------------------

    def test_gradients_reach_every_parameter(self) -> None:
        window = self.window()
        head = self.build(tokens=2).train()
        mask = torch.ones(2, window, self.chunk_size, dtype=torch.bool)
        prediction = head(self.features(2, window, tokens=2), mask[..., 0])
        head.loss(prediction, self.actions(2, window), mask)["loss"].backward()
        starved = [name for name, p in head.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
        assert not starved, f"no gradient reaches {starved}"

    def test_save_and_load_through_safetensors(self, tmp_path: Path) -> None:
        """VLA checkpoints store the head's state_dict as safetensors, which refuses shared tensors."""
        from safetensors.torch import load_file, save_file

        window = self.window()
        features, frame_mask = self.features(2, window), torch.ones(2, window, dtype=torch.bool)
        head, other = self.build(seed=0), self.build(seed=1)
        assert not torch.allclose(self.run(head, features, frame_mask), self.run(other, features, frame_mask))
        weights = str(tmp_path / "head.safetensors")
        save_file({k: v.detach().contiguous() for k, v in head.state_dict().items()}, weights)
        other.load_state_dict(load_file(weights), strict=True)
        torch.testing.assert_close(self.run(other, features, frame_mask), self.run(head, features, frame_mask))


def _copy(source: Path, target: Path) -> Path:
    import shutil

    shutil.copytree(source, target)
    return target
