"""Pieces the heads share: reading the action tokens, the chunk output, the per-frame base.

Keeping them here means the heads differ only in how they mix frames and what they output.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from robovlms.config import ActionHeadConfig, HistoryMode
from robovlms.model.action_head import BaseActionHead, HeadSpec

#: ``mode_reason`` of the heads that fuse the window
WINDOW_REASON = (
    "it exists to fuse the window of per-frame features: in one_step there is no window, and in "
    "interleaved the language model has already fused it; use mlp or discrete there"
)


def token_input_size(spec: HeadSpec) -> int:
    """Width of one frame's input: its action tokens side by side."""
    return spec.num_action_tokens * spec.input_size


def frame_inputs(features: torch.Tensor, spec: HeadSpec) -> torch.Tensor:
    """``(B, T, K, D)`` to ``(B, T, K * D)``.

    The K action tokens are concatenated rather than pooled, so that each token can learn a role
    of its own (one per chunk step, say) instead of being averaged away.
    """
    expected = (spec.num_action_tokens, spec.input_size)
    if features.dim() != 4 or tuple(features.shape[2:]) != expected:
        raise ValueError(
            f"features must have shape (batch, frames, {expected[0]}, {expected[1]}) for this head, "
            f"got {tuple(features.shape)}"
        )
    return features.flatten(2)


def run_recurrent(lstm: nn.LSTM, inputs: torch.Tensor) -> torch.Tensor:
    """The LSTM's outputs over ``inputs``; under CPU autocast, in the precision of its own weights.

    oneDNN builds no bfloat16 LSTM under CPU autocast on processors without bf16 instructions (a
    RuntimeError from ``training.precision: bf16`` or ``robovlms benchmark --dtype bfloat16`` with an
    LSTM head), and the recurrence is the part of a head where low precision hurts most anyway.
    """
    if inputs.device.type == "cpu" and torch.is_autocast_enabled("cpu"):
        with torch.autocast("cpu", enabled=False):
            return lstm(inputs.to(next(lstm.parameters()).dtype))[0]
    return lstm(inputs)[0]


def mlp_trunk(in_size: int, config: ActionHeadConfig) -> nn.Sequential:
    """``num_layers`` blocks of Linear, GELU and dropout, ``in_size`` to ``hidden_size``."""
    layers: list[nn.Module] = []
    for index in range(config.num_layers):
        layers += [
            nn.Linear(in_size if index == 0 else config.hidden_size, config.hidden_size),
            nn.GELU(),
            nn.Dropout(config.dropout),
        ]
    return nn.Sequential(*layers)


class ChunkOutput(nn.Module):
    """One linear map from a frame's hidden state to its whole chunk of predictions.

    Every (step, dimension) of the chunk gets its own rows of the weight, so it is one independent
    predictor per step and dimension. Continuous outputs are left unbounded: targets at the
    normalization's edges stay reachable and clipping is the model's choice (``model.clip_actions``).
    """

    def __init__(self, in_size: int, spec: HeadSpec, values_per_action: int = 1) -> None:
        super().__init__()
        self.shape = (spec.chunk_size, spec.action_dim, values_per_action)
        self.proj = nn.Linear(in_size, spec.chunk_size * spec.action_dim * values_per_action)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        """``(..., in_size)`` to ``(..., chunk, action_dim)``, or ``(..., chunk, action_dim, values)``."""
        out = self.proj(hidden).unflatten(-1, self.shape)
        return out.squeeze(-1) if self.shape[-1] == 1 else out


class PerFrameHead(BaseActionHead):
    """Each frame's action tokens, concatenated, through ``num_layers`` hidden layers to its chunk.

    The base of the heads for modes where the language model's hidden states already carry all
    the context a prediction needs. It has no ``name``, so the core never offers it as a head.
    """

    history_modes: ClassVar[tuple[HistoryMode, ...]] = ("one_step", "interleaved")
    mode_reason: ClassVar[str] = (
        "it decodes each frame's action tokens on their own and cannot fuse a window of per-frame "
        "features, which policy_head needs; use lstm or gpt there"
    )

    def __init__(self, config: ActionHeadConfig, spec: HeadSpec, values_per_action: int = 1) -> None:
        super().__init__(config, spec)
        self.trunk = mlp_trunk(token_input_size(spec), config)
        self.output = ChunkOutput(config.hidden_size, spec, values_per_action)

    def forward(self, features: torch.Tensor, frame_mask: torch.Tensor) -> torch.Tensor:
        """Frames never mix, so padding frames cannot reach real ones and ``frame_mask`` is not needed."""
        return self.output(self.trunk(frame_inputs(features, self.spec)))
