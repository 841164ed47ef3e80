"""The ``lstm`` head: a causal LSTM over the history window.

Padding frames only ever follow a window's real frames (a window that runs past its episode's
end), so running forward in time already keeps them from reaching any real frame.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from robovlms.config import ActionHeadConfig, HistoryMode
from robovlms.model.action_head import BaseActionHead, HeadSpec
from robovlms_action_heads.layers import WINDOW_REASON, ChunkOutput, frame_inputs, run_recurrent, token_input_size


class LSTMHead(BaseActionHead):
    """Each frame's action tokens, concatenated, through a causal LSTM, then to a chunk per frame."""

    name: ClassVar[str] = "lstm"
    history_modes: ClassVar[tuple[HistoryMode, ...]] = ("policy_head",)
    mode_reason: ClassVar[str] = WINDOW_REASON

    def __init__(self, config: ActionHeadConfig, spec: HeadSpec) -> None:
        super().__init__(config, spec)
        self.lstm = nn.LSTM(
            token_input_size(spec),
            config.hidden_size,
            num_layers=config.num_layers,
            # nn.LSTM applies dropout between layers only; with one layer it would just warn
            dropout=config.dropout if config.num_layers > 1 else 0.0,
            batch_first=True,
        )
        self.dropout = nn.Dropout(config.dropout)
        self.output = ChunkOutput(config.hidden_size, spec)

    def forward(self, features: torch.Tensor, frame_mask: torch.Tensor) -> torch.Tensor:
        hidden = run_recurrent(self.lstm, frame_inputs(features, self.spec))
        return self.output(self.dropout(hidden))
