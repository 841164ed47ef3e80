"""The ``gpt`` head: a small causal transformer over the history window.

Frames attend to themselves and to earlier real frames, never to padding frames. A frame's learned
position counts the real frames before it, so that a padded window gives, at its real frames,
exactly what the shorter unpadded window gives.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from robovlms.config import ActionHeadConfig, HistoryMode
from robovlms.model.action_head import BaseActionHead, HeadSpec
from robovlms_action_heads.layers import WINDOW_REASON, ChunkOutput, frame_inputs, token_input_size


def blocked_attention(frame_mask: torch.Tensor, num_heads: int) -> torch.Tensor:
    """``(B * num_heads, T, T)``, True where a query frame may not attend to a key frame.

    A frame always sees itself, so a padding frame's row is never fully blocked (a fully blocked
    row would turn the softmax into NaNs); no real frame sees a padding frame.
    """
    steps = frame_mask.shape[1]
    query = torch.arange(steps, device=frame_mask.device)
    causal = query[None, :] <= query[:, None]
    allowed = causal & (frame_mask[:, None, :] | torch.eye(steps, dtype=torch.bool, device=frame_mask.device))
    return ~allowed.repeat_interleave(num_heads, dim=0)


class GPTHead(BaseActionHead):
    """Each frame's action tokens, concatenated and projected, through pre-norm causal transformer layers."""

    name: ClassVar[str] = "gpt"
    history_modes: ClassVar[tuple[HistoryMode, ...]] = ("policy_head",)
    mode_reason: ClassVar[str] = WINDOW_REASON

    def __init__(self, config: ActionHeadConfig, spec: HeadSpec) -> None:
        super().__init__(config, spec)
        if config.hidden_size % config.num_heads:
            raise ValueError(
                f"action_head.hidden_size ({config.hidden_size}) must be divisible by "
                f"action_head.num_heads ({config.num_heads}) for the gpt head"
            )
        self.embed = nn.Linear(token_input_size(spec), config.hidden_size)
        self.positions = nn.Embedding(spec.history_length, config.hidden_size)
        self.dropout = nn.Dropout(config.dropout)
        layer = nn.TransformerEncoderLayer(
            config.hidden_size,
            config.num_heads,
            dim_feedforward=4 * config.hidden_size,
            dropout=config.dropout,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.layers = nn.TransformerEncoder(layer, config.num_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(config.hidden_size)
        self.output = ChunkOutput(config.hidden_size, spec)

    def forward(self, features: torch.Tensor, frame_mask: torch.Tensor) -> torch.Tensor:
        x = frame_inputs(features, self.spec)
        if x.shape[1] > self.spec.history_length:
            raise ValueError(
                f"gpt head: a window of {x.shape[1]} frames exceeds model.history_length "
                f"({self.spec.history_length}), the number of learned positions"
            )
        position = (frame_mask.long().cumsum(dim=1) - 1).clamp(min=0)
        x = self.dropout(self.embed(x) + self.positions(position))
        x = self.layers(x, mask=blocked_attention(frame_mask, self.config.num_heads))
        return self.output(self.norm(x))
