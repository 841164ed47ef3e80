"""The generator's sweep over transformers' image-text-to-text mapping, on three of its classes.

``nox -s scaffold_sweep`` runs it over the whole mapping; here one class whose generated plugin is
installed and passes its own tests (Qwen2-VL, a grid per image), and two the generator refuses with
the reason a person needs. The other layouts' generated plugins run their tests there (about 13 s
each); tests/test_new_plugin.py checks what the generator writes for them after its own run.
"""

from __future__ import annotations

import json
from pathlib import Path

from robovlms.scaffold.sweep import mapping_classes, sweep

CLASSES = ["Qwen2VLForConditionalGeneration", "Kosmos2_5ForConditionalGeneration", "Florence2ForConditionalGeneration"]


def test_the_mapping_is_what_the_sweep_covers() -> None:
    classes = mapping_classes()
    assert set(CLASSES) <= set(classes) and len(classes) == len(set(classes)) > 50


def test_sweep_reports_pass_and_reasons(tmp_path: Path) -> None:
    outcomes = {o.hf_class: o for o in sweep(tmp_path, CLASSES)}
    # a grid class (dynamic resolution, M-RoPE) on the core's MRoPEBackbone
    assert outcomes["Qwen2VLForConditionalGeneration"].status == "pass", outcomes["Qwen2VLForConditionalGeneration"]
    assert outcomes["Kosmos2_5ForConditionalGeneration"].status == "refused"
    assert "flattened_patches" in outcomes["Kosmos2_5ForConditionalGeneration"].reason
    assert "encoder-decoder" in outcomes["Florence2ForConditionalGeneration"].reason
    text = (tmp_path / "report.md").read_text()
    assert "1 of 3 classes get a plugin whose generated tests pass unedited" in text
    assert [o["status"] for o in json.loads((tmp_path / "report.json").read_text())] == ["pass", "refused", "refused"]
