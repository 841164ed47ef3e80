"""Shared builders for the cross-distribution tests: tiny VLAs of every installed backbone and head."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from robovlms import build_vla
from robovlms.config import Config

BACKBONES = ("paligemma", "llava", "flamingo", "qwen2vl", "kosmos2")
HEADS = ("mlp", "lstm", "gpt", "discrete", "flow")
#: plugins of plugin API 1.0 kept verbatim as test data; nox -s legacy installs and runs them
collect_ignore = ["legacy"]


def tiny_config(backbone: str = "paligemma", head: str = "lstm", mode: str = "policy_head", **model: Any) -> Config:
    return Config.model_validate(
        {
            "model": {
                "backbone": backbone,
                "action_head": head,
                "history_mode": mode,
                "history_length": 3,
                "action_chunk_size": 4,
                **model,
            },
            "action_head": {"hidden_size": 32, "num_layers": 1, "dropout": 0.0, "num_heads": 2},
            "vlm": {"preset": "tiny"},
            "data": {"state_key": "observation.state"} if model.get("state_dim") else {},
        }
    )


def tiny_vla(backbone: str = "paligemma", head: str = "lstm", mode: str = "policy_head", **model: Any):
    return build_vla(tiny_config(backbone, head, mode, **model)).eval()


@pytest.fixture(scope="session", autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)  # tiny models: threads only add contention on a 2-core machine


@pytest.fixture
def batch() -> dict[str, Any]:
    rng = np.random.default_rng(0)
    actions = rng.uniform(-1, 1, size=(2, 3, 4, 7)).astype(np.float32)
    actions[..., -1] = np.sign(actions[..., -1])
    action_mask = np.ones((2, 3, 4), bool)
    action_mask[1, 1, 3] = False  # the second episode ends inside frame 1's chunk...
    action_mask[1, 2] = False  # ...and before frame 2
    return {
        "images": rng.integers(0, 256, size=(2, 3, 40, 40, 3), dtype=np.uint8),
        "instructions": ["pick up the red block", "push the blue cube"],
        "frame_mask": torch.tensor([[True, True, True], [True, True, False]]),
        "actions": torch.from_numpy(actions),
        "action_mask": torch.from_numpy(action_mask),
    }
