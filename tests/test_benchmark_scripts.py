"""The device check and the memory benchmark run end to end, on tiny presets and a CPU.

Both are run for their figures on a GPU or for minutes on real-size models, never in the tests;
these smoke runs make sure the prepared commands work when that time comes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("robovlms_paligemma")
pytest.importorskip("robovlms_action_heads")
pytest.importorskip("psutil")
BENCHMARKS = Path(__file__).parents[1] / "benchmarks"


def script(name: str, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, str(BENCHMARKS / name), *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)


def test_the_gpu_check_reports_step_time_tokens_memory_and_policy_latency(tmp_path):
    done = script(
        "gpu_full_presets.py", "--device", "cpu", "--preset", "tiny", "--head", "gpt", "--history-length", "2",
        "--train-steps", "1", "--policy-steps", "2", "--batch-size", "1", "--out", str(tmp_path / "gpu.json"),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    (result,) = json.loads((tmp_path / "gpu.json").read_text())
    assert result["backbone"] == "paligemma" and result["device_name"] == "cpu"
    assert result["train_step_ms"] > 0 and result["policy_step_ms_p50"] > 0 and result["train_peak_memory_mb"] > 0
    # two frames per window, each its image tokens and the instruction: 16 image tokens at 32 px, patch 8
    assert result["details"]["train_tokens_per_step"] > 2 * 16
    assert result["mfu"] is None  # no bf16 peak is known for a CPU


def test_the_memory_benchmark_projects_what_it_measured_on_two_processes(tmp_path):
    done = script(
        "memory_full_presets.py", "paligemma", "--preset", "tiny", "--check", "--out", str(tmp_path / "m.json")
    )
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    report = json.loads((tmp_path / "m.json").read_text())
    (result,) = report["results"]
    assert result["peak_resident_gib"] >= result["resident_before_step_gib"] > 0
    per_gpu = result["fsdp_full_finetune_per_gpu"]
    assert [per_gpu[n]["states_gib"] * int(n) for n in ("1", "2", "4", "8")] == pytest.approx(
        [16 * result["parameters"] / 2**30] * 4
    )
    # the sharded parameters, gradients and Adam moments each rank held after one FSDP step
    check = report["check"]
    assert check["parameters"] == result["parameters"] and check["ranks"] == 2
    assert check["ratio"] == pytest.approx(1.0, abs=0.01)
