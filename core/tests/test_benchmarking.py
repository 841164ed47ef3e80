"""robovlms benchmark: the JSON object's fields on a tiny config, and one-line errors for what cannot run."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from robovlms.cli import main

TINY = {
    "model": {"backbone": "paligemma", "action_head": "lstm", "history_length": 3, "action_chunk_size": 4},
    "action_head": {"hidden_size": 32, "num_layers": 1, "dropout": 0.0},
    "vlm": {"preset": "tiny"},
}
QUICK = ["--steps", "4", "--train-steps", "1"]


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """Tiny models on a shared CI machine: more threads only add contention."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def write(tmp_path: Path, config: dict) -> str:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    return str(path)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_json_reports_every_measure(tmp_path, capsys, dtype):
    pytest.importorskip("robovlms_paligemma")
    pytest.importorskip("robovlms_action_heads")
    assert main(["benchmark", write(tmp_path, TINY), "--json", "--dtype", dtype, *QUICK]) == 0
    result = json.loads(capsys.readouterr().out)
    assert (result["backbone"], result["action_head"], result["weights"]) == ("paligemma", "lstm", "preset tiny")
    assert (result["device"], result["dtype"], result["compile"]) == ("cpu", dtype, False)
    assert result["parameters"] > result["trainable_parameters"] > 0  # the vision tower is frozen by default
    assert result["cold_step_ms"] > 0 and 0 < result["step_ms_p50"] <= result["step_ms_p95"]
    assert result["steps_per_s"] > 0 and result["chunked_steps_per_s"] > 0
    assert result["model_calls_per_100_steps_chunked"] == 25  # chunk 4, all 4 executed: ceil(100 / 4)
    assert result["train_samples_per_s"] > 0 and result["train_batch_size"] == 2
    assert result["inference_peak_memory_mb"] > 0 and result["training_peak_memory_mb"] > 0
    assert result["memory_measured_as"] == "peak process RSS"
    assert result["head_decode_ms"] > 0


def test_flow_head_decoding_is_timed_and_asks_the_model_as_often(tmp_path, capsys):
    pytest.importorskip("robovlms_paligemma")
    pytest.importorskip("robovlms_action_heads")
    config = {**TINY, "model": {**TINY["model"], "action_head": "flow"}}
    config["action_head"] = {**TINY["action_head"], "num_inference_steps": 5}
    assert main(["benchmark", write(tmp_path, config), "--json", *QUICK]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["action_head"] == "flow" and result["head_decode_ms"] > 0
    assert result["model_calls_per_100_steps_chunked"] == 25  # the same as lstm's: sampling stays inside a call


def test_a_model_with_the_robot_state_is_benchmarked_with_one(tmp_path, capsys):
    pytest.importorskip("robovlms_paligemma")
    pytest.importorskip("robovlms_action_heads")
    config = {**TINY, "model": {**TINY["model"], "state_dim": 4}, "data": {"state_key": "observation.state"}}
    assert main(["benchmark", write(tmp_path, config), "--json", *QUICK]) == 0
    assert json.loads(capsys.readouterr().out)["train_samples_per_s"] > 0


def test_a_model_with_two_cameras_is_benchmarked_with_both(tmp_path, capsys):
    pytest.importorskip("robovlms_paligemma")
    pytest.importorskip("robovlms_action_heads")
    config = {**TINY, "data": {"image_keys": ["observation.image", "observation.images.wrist"]}}
    assert main(["benchmark", write(tmp_path, config), "--json", *QUICK]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["step_ms_p50"] > 0 and result["train_samples_per_s"] > 0


def test_plain_output_is_a_short_table(tmp_path, capsys):
    pytest.importorskip("robovlms_paligemma")
    pytest.importorskip("robovlms_action_heads")
    assert main(["benchmark", write(tmp_path, TINY), *QUICK]) == 0
    out = capsys.readouterr().out
    assert "25 model calls per 100 steps" in out and "samples/s" in out and "p95" in out


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"model": {"backbone": "no-such-vlm"}}, "unknown backbone 'no-such-vlm'"),
        ({"model": {"history_length": 0}}, "model.history_length"),
    ],
)
def test_a_config_it_cannot_build_is_a_one_line_error(tmp_path, capsys, config, expected):
    assert main(["benchmark", write(tmp_path, config), "--json"]) == 2
    captured = capsys.readouterr()
    assert expected in captured.err and captured.err.count("\n") == 1 and captured.out == ""


def test_cuda_without_a_gpu_is_a_one_line_error(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert main(["benchmark", write(tmp_path, TINY), "--device", "cuda"]) == 2
    err = capsys.readouterr().err
    assert "--device cuda" in err and "sees no CUDA GPU" in err and err.count("\n") == 1
