"""The conformance suite an action-head plugin's tests subclass: the head contract in every history mode.

A plugin's test file names its head::

    from robovlms.testing import HeadConformance

    class TestLSTM(HeadConformance):
        head = "lstm"
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, get_args

import pytest
import torch

from robovlms.config import ActionHeadConfig, HistoryMode
from robovlms.errors import ConfigError
from robovlms.model.action_head import BaseActionHead, HeadSpec
from robovlms.model.components import build_head, head_class
from robovlms.plugins.kinds import ACTION_HEAD
from robovlms.testing.registration import entry_point_imports_no_torch, listed_as_ok, one_line_error


class HeadConformance:
    """Checks the action-head contract of one installed action-head plugin.

    Every check runs in each history mode the head declares, with small shapes and dropout off, so
    the suite is deterministic and takes seconds. Modes differ, for a head, only in how many frames
    arrive: one in ``one_step``, the window in ``interleaved`` and ``policy_head``.
    """

    #: the head's entry-point name
    head: ClassVar[str] = ""
    #: the ``action_head`` section it is built with (the head is always ``head``)
    action_head: ClassVar[dict[str, Any]] = {"hidden_size": 32, "num_layers": 2, "dropout": 0.0}
    input_size: ClassVar[int] = 12
    action_dim: ClassVar[int] = 7
    chunk_size: ClassVar[int] = 3
    history_length: ClassVar[int] = 4

    @classmethod
    def build(cls, tokens: int = 1, seed: int = 0) -> BaseActionHead:
        """The head as ``build_vla`` makes it, for a backbone of width ``input_size``."""
        spec = HeadSpec(cls.input_size, cls.action_dim, cls.chunk_size, cls.history_length, tokens)
        config = ActionHeadConfig(**{k: v for k, v in cls.action_head.items() if k != "type"})
        return build_head(head_class(cls.head), config, spec, seed)

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
        return max(self.frames(mode) for mode in head_class(self.head).history_modes)

    def run(self, head: BaseActionHead, features: torch.Tensor, frame_mask: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return head.eval()(features, frame_mask)

    # -- registration ----------------------------------------------------------------------------

    def test_listed_as_ok(self) -> None:
        listed_as_ok(ACTION_HEAD, self.head)

    def test_entry_point_module_imports_no_torch(self) -> None:
        entry_point_imports_no_torch(ACTION_HEAD, self.head)

    def test_loads_by_name(self) -> None:
        cls = head_class(self.head)
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
            message = one_line_error(excinfo)
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
            # what follows (batch, frames) is the head's own: chunks, bins, or a sampler's context
            assert tuple(prediction.shape[:2]) == expected[:2], f"{mode}: prediction {tuple(prediction.shape)}"
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

        def loss(actions: torch.Tensor) -> torch.Tensor:
            torch.manual_seed(0)  # a sampling loss (flow matching) draws the same noise and times each call
            return head.loss(prediction, actions, action_mask)["loss"]

        base = loss(targets)
        assert base.ndim == 0 and torch.isfinite(base)
        masked_changed = torch.where(action_mask[..., None], targets, others)
        real_changed = torch.where(action_mask[..., None], others, targets)
        torch.testing.assert_close(loss(masked_changed), base)
        assert not torch.allclose(loss(real_changed), base)

    def test_decoding_is_reproducible(self) -> None:
        """A deterministic head decodes the same twice; a sampling head does so for the same generator seed."""
        window = self.window()
        head = self.build()
        prediction = self.run(head, self.features(2, window), torch.ones(2, window, dtype=torch.bool))

        def decode(seed: int) -> torch.Tensor:
            if not head.stochastic:
                return head.decode(prediction)
            return head.decode(prediction, generator=torch.Generator().manual_seed(seed))  # type: ignore[call-arg]

        torch.testing.assert_close(decode(0), decode(0), atol=0, rtol=0)
        if head.stochastic:
            assert not torch.allclose(decode(0), decode(1)), "a sampling head must draw from the generator it is given"

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
