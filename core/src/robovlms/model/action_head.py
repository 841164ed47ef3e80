"""The action-head contract: what an action-head plugin subclasses.

A head sees, for every frame of a history window, the language model's hidden states at that
frame's action tokens, and predicts a chunk of future actions for each frame. Actions are
normalized (arm values in [-1, 1]); the last action dimension is the gripper, predicted as a logit
of "open". Continuous heads inherit the loss and decoding below; a head with another output (the
discrete head's bins) overrides ``loss`` and ``decode``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from robovlms.config import ActionHeadConfig, HistoryMode
from robovlms.errors import ConfigError
from robovlms.model.losses import continuous_action_loss
from robovlms.plugins.kinds import ACTION_HEAD, Component, ComponentKind


@dataclass(frozen=True)
class HeadSpec:
    """The shapes a head is built for, fixed by the backbone and the ``model`` config."""

    input_size: int
    action_dim: int
    chunk_size: int
    history_length: int
    num_action_tokens: int


class BaseActionHead(Component, nn.Module):
    """Hidden states at the action tokens ``(B, T, K, D)`` to action chunks ``(B, T, chunk, action_dim)``.

    Subclasses set ``name`` (the entry-point name) and ``history_modes`` (the ``model.history_mode``
    values they can serve; a config pairing the head with another mode is refused with a reason).
    """

    kind: ClassVar[ComponentKind] = ACTION_HEAD
    history_modes: ClassVar[tuple[HistoryMode, ...]] = ("one_step", "interleaved", "policy_head")
    #: why the head refuses the modes it does not list, shown in the config error
    mode_reason: ClassVar[str] = ""
    #: whether ``decode`` samples (a flow-matching head draws its starting noise): then it takes a
    #: ``generator`` keyword, which the streaming policy seeds, so that rollouts are reproducible
    stochastic: ClassVar[bool] = False

    def __init__(self, config: ActionHeadConfig, spec: HeadSpec) -> None:
        super().__init__()
        self.config = config
        self.spec = spec

    @classmethod
    def check_mode(cls, mode: HistoryMode) -> None:
        """Refuse a history mode this head cannot serve, with the head's own reason."""
        if mode not in cls.history_modes:
            reason = f" ({cls.mode_reason})" if cls.mode_reason else ""
            raise ConfigError(
                f"model.history_mode: action head {cls.name!r} cannot serve {mode!r}{reason}; "
                f"it serves: {', '.join(cls.history_modes)}"
            )

    def forward(self, features: torch.Tensor, frame_mask: torch.Tensor) -> torch.Tensor:
        """Raw predictions per frame: ``(B, T, chunk, action_dim)``, the last channel a gripper logit.

        The shape after ``(B, T)`` is the head's own (the discrete head adds its bins, a flow-matching
        head returns the per-frame context its sampler starts from): only ``loss`` and ``decode``
        read it.

        ``frame_mask`` ``(B, T)`` is False for padding frames: a training window that runs past its
        episode's end is padded after the last real frame. A head that fuses the window must keep
        padding frames from changing the prediction at any real frame.
        """
        raise NotImplementedError

    def loss(
        self, prediction: torch.Tensor, actions: torch.Tensor, action_mask: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """Training losses against normalized ``actions`` ``(B, T, chunk, action_dim)``; ``loss`` is the total."""
        return continuous_action_loss(
            prediction,
            actions,
            action_mask,
            arm_loss=self.config.arm_loss,
            gripper_weight=self.config.gripper_loss_weight,
        )

    def decode(self, prediction: torch.Tensor) -> torch.Tensor:
        """Normalized arm values and the gripper's probability of "open", ``(..., action_dim)``."""
        return torch.cat([prediction[..., :-1], torch.sigmoid(prediction[..., -1:])], dim=-1)
