"""The demo's pipeline (generate, train, evaluate) with the backbones of plugin API 1.2, named in a config."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from robovlms import load_config
from robovlms.datasets.recording import generate
from robovlms.evaluation.closed_loop import evaluate
from robovlms.training.trainer import train


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data") / "tabletop"
    generate(path, 4, seed=0, image_size=32)
    return path


@pytest.mark.parametrize(
    ("backbone", "mode", "head"), [("qwen2vl", "policy_head", "lstm"), ("kosmos2", "policy_head", "lstm")]
)
def test_trains_and_evaluates_by_name(  # interleaved mode is in test_vla: its closed loop costs 10x here
    backbone: str, mode: str, head: str, dataset: Path, tmp_path: Path
) -> None:
    config = load_config(
        {
            "model": {
                "backbone": backbone,
                "action_head": head,
                "history_mode": mode,
                "history_length": 2,
                "action_chunk_size": 2,
            },
            "training": {"batch_size": 2, "learning_rate": 3e-3, "epochs": 1, "max_steps": 3, "log_every": 1},
            "action_head": {"hidden_size": 32, "num_layers": 1, "dropout": 0.0},
            "vlm": {"preset": "tiny"},
            "data": {"path": str(dataset)},
        }
    )
    train(config, tmp_path / "run", progress=False)
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "step" in r] == [1, 2, 3]
    report = evaluate(tmp_path / "run", episodes=1, seed=10_000)
    assert report["episodes"] >= 1 and 0.0 <= report["success_rate"] <= 1.0
