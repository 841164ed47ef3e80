"""The generator's sweep over transformers' image-text-to-text mapping, on six of its classes.

``nox -s scaffold_sweep`` runs it over the whole mapping; here three classes whose generated plugins are
installed and pass their own tests (Qwen2-VL, a grid per image; Qwen3-VL, with DeepStack; GOT-OCR2, tiny
only once sizes beyond the usual names shrink), two the generator refuses with the reason a person needs,
and one no generator could build here (Evolla reads proteins). The other layouts' generated plugins run their
tests there (about 13 s each); tests/test_new_plugin.py checks what the generator writes for them after
its own run.
"""

from __future__ import annotations

import json
from pathlib import Path

from robovlms.scaffold.sweep import mapping_classes, sweep

CLASSES = [
    "Qwen2VLForConditionalGeneration",
    "Mistral4ForCausalLM",
    "UdopForConditionalGeneration",
    "GotOcr2ForConditionalGeneration",
    "EvollaForProteinText2Text",
    "Qwen3VLForConditionalGeneration",
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
    # a language model in the mapping: no image input, said so
    assert outcomes["Mistral4ForCausalLM"].status == "refused"
    assert "takes no image input" in outcomes["Mistral4ForCausalLM"].reason
    # an encoder-decoder whose encoder reads each token's box on the page (Pix2Struct's reads the image only: passes)
    assert "bbox" in outcomes["UdopForConditionalGeneration"].reason
    # sizes no usual name covers (a convolutional neck) shrink, and a vision encoder whose own initializer range
    # (1e-10) would silence the image gets a usual one: the tiny model sees the image
    assert outcomes["GotOcr2ForConditionalGeneration"].status == "pass", outcomes["GotOcr2ForConditionalGeneration"]
    # proteins, not images: outside the denominator, with why
    assert outcomes["EvollaForProteinText2Text"].status == "not buildable here"
    assert "reads no images" in outcomes["EvollaForProteinText2Text"].reason
    text = (tmp_path / "report.md").read_text()
    assert "3 of 6 classes get a plugin whose generated tests pass unedited" in text
    assert "1 of them cannot be built on this machine at all" in text and "of the 5 that can, 3 pass (60%)" in text
    statuses = [o["status"] for o in json.loads((tmp_path / "report.json").read_text())]
    assert statuses == ["pass", "refused", "refused", "pass", "not buildable here", "pass"]
