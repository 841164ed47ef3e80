"""The generator's sweep over transformers' image-text-to-text mapping, on five of its classes.

``nox -s scaffold_sweep`` runs it over the whole mapping; here three classes whose generated plugins are
installed and pass their own tests (Qwen2-VL, a grid per image; Qwen3-VL, with DeepStack; VideoLLaMA 3,
text positions), and two the generator refuses with the reason a person needs.
"""

from __future__ import annotations

import json
from pathlib import Path

from robovlms.scaffold.sweep import mapping_classes, sweep

CLASSES = [
    "Qwen2VLForConditionalGeneration",
    "Kosmos2ForConditionalGeneration",
    "Florence2ForConditionalGeneration",
    "Qwen3VLForConditionalGeneration",
    "VideoLlama3ForConditionalGeneration",
]


def test_the_mapping_is_what_the_sweep_covers() -> None:
    classes = mapping_classes()
    assert set(CLASSES) <= set(classes) and len(classes) == len(set(classes)) > 50


def test_sweep_reports_pass_and_reasons(tmp_path: Path) -> None:
    outcomes = {o.hf_class: o for o in sweep(tmp_path, CLASSES)}
    # a grid class (dynamic resolution, M-RoPE) on the core's MRoPEBackbone
    assert outcomes["Qwen2VLForConditionalGeneration"].status == "pass", outcomes["Qwen2VLForConditionalGeneration"]
    # DeepStack (early vision layers added in the language model's first layers) on the core's DeepStackBackbone
    assert outcomes["Qwen3VLForConditionalGeneration"].status == "pass", outcomes["Qwen3VLForConditionalGeneration"]
    # Qwen-VL's image format with text positions and the processor's merge, on the core's GridBackbone
    video_llama = outcomes["VideoLlama3ForConditionalGeneration"]
    assert video_llama.status == "pass", video_llama
    assert outcomes["Kosmos2ForConditionalGeneration"].status == "refused"
    assert "image_embeds_position_mask" in outcomes["Kosmos2ForConditionalGeneration"].reason
    assert "encoder-decoder" in outcomes["Florence2ForConditionalGeneration"].reason
    text = (tmp_path / "report.md").read_text()
    assert "3 of 5 classes get a plugin whose generated tests pass unedited" in text
    statuses = [o["status"] for o in json.loads((tmp_path / "report.json").read_text())]
    assert statuses == ["pass", "refused", "refused", "pass", "pass"]
