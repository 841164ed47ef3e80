"""Streaming and chunking: ``policy.step`` at window 16 against window 1, with the feature cache on and off.

Tiny PaliGemma with the LSTM head in ``policy_head`` mode, each policy's window filled before
timing (the steady state a robot loop sees); the three policies are stepped in alternation.
"""

from __future__ import annotations

import json

import numpy as np
import torch
from timing import interleaved

from robovlms import build_vla

OBSERVATION = {
    "image": np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8),
    "instruction": "pick up the red block",
}


def vla(window: int, chunk: int = 10):
    return build_vla(
        {
            "model": {
                "backbone": "paligemma",
                "action_head": "lstm",
                "history_mode": "policy_head",
                "history_length": window,
                "action_chunk_size": chunk,
            },
            "action_head": {"hidden_size": 64, "num_layers": 1},
            "vlm": {"preset": "tiny"},
        }
    )


def filled(policy):
    policy.reset()
    for _ in range(policy.window):
        policy.step(OBSERVATION)
    return policy


def measure() -> dict[str, object]:
    one, sixteen = vla(1), vla(16)
    uncached = sixteen.policy()
    uncached.cache_features = False
    policies = {"window 1": one.policy(), "window 16": sixteen.policy(), "window 16, no cache": uncached}
    for policy in policies.values():
        filled(policy)
    times = interleaved({name: (lambda p=p: p.step(OBSERVATION)) for name, p in policies.items()}, repeat=100)
    chunked = sixteen.policy(execute_steps=10)
    chunked.reset()
    for _ in range(100):
        chunked.step(OBSERVATION)
    return {
        "ratios": {
            "streaming, window 16 / window 1": {"value": times["window 16"] / times["window 1"], "goal": ["<=", 1.3]},
            # no goal: how much the cache saves, for the record
            "streaming, window 16 cache off / on": {"value": times["window 16, no cache"] / times["window 16"]},
            "chunking, model calls per 100 steps (chunk 10, k 10)": {"value": chunked.model_calls, "goal": ["==", 10]},
        },
        "details": {f"{name} step_ms": seconds * 1e3 for name, seconds in times.items()},
    }


if __name__ == "__main__":
    torch.set_num_threads(1)
    print(json.dumps(measure(), indent=2))
