"""`policy.step` at window 16 against window 1 (tiny PaliGemma, LSTM head), with and without the cache."""

from __future__ import annotations

import json

import numpy as np
import torch
from timing import median_seconds

from robovlms import build_vla


def step_time(window: int, cache: bool) -> float:
    vla = build_vla(
        {
            "model": {
                "backbone": "paligemma",
                "action_head": "lstm",
                "history_mode": "policy_head",
                "history_length": window,
            },
            "action_head": {"hidden_size": 64, "num_layers": 1},
            "vlm": {"preset": "tiny"},
        }
    )
    policy = vla.policy()
    policy.cache_features = cache
    rng = np.random.default_rng(0)
    observation = {"image": rng.integers(0, 256, (64, 64, 3), dtype=np.uint8), "instruction": "pick up the red block"}
    policy.reset()
    for _ in range(window):  # fill the window first: steady state is what a robot loop sees
        policy.step(observation)
    return median_seconds(lambda: policy.step(observation), repeat=60)


def main() -> None:
    torch.set_num_threads(1)
    results = {
        f"window{w}_{'cache' if c else 'nocache'}_ms": step_time(w, c) * 1e3 for w in (1, 16) for c in (True, False)
    }
    results = {k: round(v, 3) for k, v in results.items()}
    results["ratio_16_vs_1_cache"] = round(results["window16_cache_ms"] / results["window1_cache_ms"], 2)
    results["ratio_16_vs_1_nocache"] = round(results["window16_nocache_ms"] / results["window1_nocache_ms"], 2)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
