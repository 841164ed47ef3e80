"""Decoding cost per chunk: the flow-matching head at 5 and 10 Euler steps against the mlp head.

Same tiny PaliGemma width, same action-token features (one frame, ``one_step``), timed in
alternation; what is timed is the head's forward and decode for one chunk, the part of a policy
step that differs between heads (the backbone's share is the same for all).
"""

from __future__ import annotations

import torch
from timing import interleaved

from robovlms import build_vla


def head(name: str, **settings: object):
    return build_vla(
        {
            "model": {
                "backbone": "paligemma",
                "action_head": name,
                "history_mode": "one_step",
                "action_chunk_size": 10,
            },
            "action_head": {"hidden_size": 256, "num_layers": 2, **settings},
            "vlm": {"preset": "tiny"},
        }
    ).eval()


def measure() -> dict[str, object]:
    vlas = {"mlp": head("mlp"), "flow, 5 steps": head("flow", num_inference_steps=5)}
    vlas["flow, 10 steps"] = head("flow", num_inference_steps=10)
    width = vlas["mlp"].backbone.hidden_size
    features, mask = torch.randn(1, 1, 1, width), torch.ones(1, 1, dtype=torch.bool)
    generator = torch.Generator().manual_seed(0)

    def decoder(vla):
        return lambda: vla.decode(vla.head(features, mask), generator=generator)

    with torch.inference_mode():
        times = interleaved({name: decoder(vla) for name, vla in vlas.items()}, repeat=200)
    return {
        "ratios": {
            f"head decode per chunk, {name} / mlp": {"value": times[name] / times["mlp"]}
            for name in ("flow, 5 steps", "flow, 10 steps")
        },
        "details": {f"{name}_ms": seconds * 1e3 for name, seconds in times.items()},
    }
