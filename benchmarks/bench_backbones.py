"""Framework overhead: each backbone's forward as robovlms assembles it, against the bare transformers model's.

Both run on the same image and prompt tokens: robovlms through the backbone contract (image
tokens, text embeddings, ``forward_text``), transformers through ``model.base_model``. ``tiny``
presets make Python overhead as visible as it can get.
"""

from __future__ import annotations

import json

import numpy as np
import torch
from timing import interleaved

from robovlms import build_backbone, load_config

BACKBONES = ("paligemma", "llava", "flamingo")


def overhead(name: str) -> dict[str, float]:
    backbone = build_backbone(load_config({"model": {"backbone": name}, "vlm": {"preset": "tiny"}})).eval()
    frames = np.random.default_rng(0).integers(0, 256, (2, 64, 64, 3), dtype=np.uint8)
    inputs = {"pixel_values": backbone.image_processor(frames), **backbone.tokenize(["pick up the red block", "push"])}
    bare = backbone.reference_inputs(**inputs)
    with torch.inference_mode():
        times = interleaved(
            {"robovlms": lambda: backbone(**inputs), "transformers": lambda: backbone.model.base_model(**bare)},
            repeat=100,
        )
    return {
        "robovlms_ms": times["robovlms"] * 1e3,
        "transformers_ms": times["transformers"] * 1e3,
        "ratio": times["robovlms"] / times["transformers"],
    }


def measure() -> dict[str, object]:
    details = {name: overhead(name) for name in BACKBONES}
    ratios = {f"framework overhead, {n}": {"value": d["ratio"], "goal": ["<=", 1.10]} for n, d in details.items()}
    return {"ratios": ratios, "details": details}


if __name__ == "__main__":
    torch.set_num_threads(1)
    print(json.dumps(measure(), indent=2))
