"""Each backbone plugin: lines of its class, size of `tiny`, forward time against the bare model."""

from __future__ import annotations

import inspect
import json

import numpy as np
import torch
from timing import interleaved

from robovlms import build_backbone, load_config
from robovlms.plugins import load

BACKBONES = ("paligemma", "llava", "flamingo")


def measure(name: str) -> dict[str, object]:
    backbone = build_backbone(load_config({"model": {"backbone": name}, "vlm": {"preset": "tiny"}}))
    frames = np.random.default_rng(0).integers(0, 256, (2, 64, 64, 3), dtype=np.uint8)
    inputs = {"pixel_values": backbone.image_processor(frames), **backbone.tokenize(["pick up the red block", "push"])}
    bare_inputs = backbone.reference_inputs(**inputs)
    with torch.no_grad():
        times = interleaved(
            {
                "robovlms": lambda: backbone(**inputs),
                "transformers": lambda: backbone.model.base_model(**bare_inputs),
            },
            repeat=100,
        )
    source = inspect.getsource(load("backbone", name))
    return {
        "backbone": name,
        "class_lines": len([line for line in source.splitlines() if line.strip()]),
        "tiny_parameters": sum(p.numel() for p in backbone.parameters()),
        "robovlms_forward_ms": round(times["robovlms"] * 1e3, 3),
        "transformers_forward_ms": round(times["transformers"] * 1e3, 3),
        "ratio": round(times["robovlms"] / times["transformers"], 3),
    }


def main() -> None:
    torch.set_num_threads(1)
    print(json.dumps([measure(name) for name in BACKBONES], indent=2))


if __name__ == "__main__":
    main()
