"""Cameras: ``policy.step`` with one, two and three cameras, the cost of each extra camera.

Tiny PaliGemma with the LSTM head in ``policy_head`` mode (each new frame of each camera encoded
once, its features cached), windows filled before timing; the three policies are stepped in
alternation. Each extra camera adds one image to encode and one block of image tokens to the
language model's sequence; the goal: each extra camera costs at most half a one-camera step.
"""

from __future__ import annotations

import json

import numpy as np
import torch
from timing import interleaved

from robovlms import build_vla

CAMERAS = ("observation.images.top", "observation.images.wrist", "observation.images.side")
FRAME = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)


def policy(cameras: int):
    vla = build_vla(
        {
            "model": {
                "backbone": "paligemma",
                "action_head": "lstm",
                "history_mode": "policy_head",
                "history_length": 4,
                "action_chunk_size": 4,
            },
            "action_head": {"hidden_size": 64, "num_layers": 1},
            "vlm": {"preset": "tiny"},
            "data": {"image_keys": list(CAMERAS[:cameras])},
        }
    )
    stepper = vla.policy()
    stepper.reset()
    observation = {"images": dict.fromkeys(CAMERAS[:cameras], FRAME), "instruction": "pick up the red block"}
    for _ in range(stepper.window):
        stepper.step(observation)
    return lambda: stepper.step(observation)


def measure() -> dict[str, object]:
    times = interleaved({f"{n} cameras": policy(n) for n in (1, 2, 3)}, repeat=100)
    one = times["1 cameras"]
    per_extra = (times["3 cameras"] - one) / 2
    return {
        "ratios": {
            "cameras, step 2 / 1": {"value": times["2 cameras"] / one, "goal": ["<=", 1.5]},
            "cameras, step 3 / 1": {"value": times["3 cameras"] / one, "goal": ["<=", 2.0]},
        },
        "details": {
            **{f"{name} step_ms": s * 1e3 for name, s in times.items()},
            "per extra camera ms": per_extra * 1e3,
        },
    }


if __name__ == "__main__":
    torch.set_num_threads(1)
    print(json.dumps(measure(), indent=2))
