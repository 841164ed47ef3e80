"""Building heads the way a config does (through the installed entry points), with small shapes."""

from __future__ import annotations

from typing import Any

import torch

from robovlms.config import ActionHeadConfig
from robovlms.model.action_head import BaseActionHead, HeadSpec
from robovlms.plugins.loading import load

HEADS = ["mlp", "lstm", "gpt", "discrete", "flow"]
WINDOW_HEADS = ["lstm", "gpt"]
INPUT_SIZE, ACTION_DIM, CHUNK, HISTORY = 12, 7, 3, 4


def build(name: str, tokens: int = 1, **config: Any) -> BaseActionHead:
    """A head with dropout off (so outputs are deterministic) unless ``config`` says otherwise."""
    torch.manual_seed(0)
    settings = {"hidden_size": 32, "num_layers": 2, "dropout": 0.0, "num_heads": 4, "bins": 16, **config}
    spec = HeadSpec(
        input_size=INPUT_SIZE,
        action_dim=ACTION_DIM,
        chunk_size=CHUNK,
        history_length=HISTORY,
        num_action_tokens=tokens,
    )
    return load("action_head", name)(ActionHeadConfig(type=name, **settings), spec)


def features(batch: int, frames: int, tokens: int = 1, seed: int = 1) -> torch.Tensor:
    return torch.randn(batch, frames, tokens, INPUT_SIZE, generator=torch.Generator().manual_seed(seed))


def actions(batch: int, frames: int, seed: int = 2) -> torch.Tensor:
    """Normalized targets: arm values uniform in [-1, 1], the gripper at -1 or +1."""
    generator = torch.Generator().manual_seed(seed)
    arm = torch.rand(batch, frames, CHUNK, ACTION_DIM - 1, generator=generator) * 2 - 1
    gripper = torch.randint(0, 2, (batch, frames, CHUNK, 1), generator=generator) * 2.0 - 1
    return torch.cat([arm, gripper], dim=-1)


def padded_mask(batch: int, frames: int, padding: list[int]) -> torch.Tensor:
    """``frame_mask`` with ``padding[b]`` padding frames at the end of row ``b`` (past its episode's end)."""
    return torch.arange(frames)[None, :] < frames - torch.tensor(padding)[:, None]
