"""robovlms eval and robovlms demo: closed-loop reports with their reference points, and bad runs refused."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from robovlms import load_config
from robovlms.datasets.recording import generate
from robovlms.envs.registered import Tabletop
from robovlms.envs.tabletop import TASKS
from robovlms.evaluation.closed_loop import evaluate, seeds_per_task, wilson
from robovlms.training.trainer import train

pytest.importorskip("robovlms_paligemma")
pytest.importorskip("robovlms_action_heads")


#: the run's dataset is recorded with episodes this short (the tabletop's default is 30)
RECORDED_MAX_STEPS = 20


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("eval")
    generate(root / "data", 4, seed=0, image_size=32, options={"max_steps": RECORDED_MAX_STEPS})
    config = load_config(
        {
            "model": {"backbone": "paligemma", "action_head": "lstm", "history_length": 2, "action_chunk_size": 2},
            "training": {"batch_size": 4, "max_steps": 2},
            "action_head": {"hidden_size": 32, "num_layers": 1},
            "vlm": {"preset": "tiny"},
            "data": {"path": str(root / "data")},
        }
    )
    train(config, root / "run", progress=False)
    return root / "run"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "robovlms", *args], capture_output=True, text=True, env=env)


def test_episodes_cover_every_task_equally():
    seeds = seeds_per_task(Tabletop(image_size=32), 0, 3)
    assert len(seeds) == 3 * len(TASKS) == len(set(seeds))


def test_wilson_interval():
    assert wilson(0, 10)[0] == 0.0 and 0.25 < wilson(0, 10)[1] < 0.35  # 0 of 10 does not prove 0%
    low, high = wilson(12, 15)
    assert low < 0.8 < high and round(low, 3) == 0.548 and round(high, 3) == 0.930


def test_eval_reports_policy_expert_and_language_blind(run):
    result = cli("eval", str(run), "--episodes", "2", "--seed", "5", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert 0 <= report["success_rate"] <= 1 and report["episodes"] == 2 * len(TASKS)
    assert set(report["per_task"]) == set(TASKS)
    assert report["expert"]["success_rate"] == 1.0
    assert report["language_blind"]["episodes"] == report["episodes"]
    assert report["environment"] == "tabletop"  # remembered from the dataset the run was trained on
    low, high = report["ci95"]
    assert low <= report["success_rate"] <= high
    assert report["step_time_ms"] > 0 and report["mean_episode_length"] >= 1
    assert Path(report["picture"]).stat().st_size > 0


def test_eval_is_deterministic_for_a_seed_and_across_workers(run):
    first = evaluate(run, episodes=1, seed=3)
    second = evaluate(run, episodes=1, seed=3, workers=2)
    for part in ("per_task", "mean_episode_length", "success_rate"):
        assert first[part] == second[part]
        assert first["language_blind"][part] == second["language_blind"][part]


def test_eval_runs_where_the_run_was_trained_unless_told_otherwise(run):
    # two training steps never succeed: hidden-instruction episodes last as long as the environment allows
    recorded = evaluate(run, episodes=1, seed=3)["language_blind"]
    assert recorded["mean_episode_length"] == RECORDED_MAX_STEPS
    result = cli("eval", str(run), "--episodes", "1", "--seed", "3", "--json", "--option", "max_steps=7")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["language_blind"]["mean_episode_length"] == 7
    assert "has no option 'jitter'" in one_line(cli("eval", str(run), "--option", "jitter=0.1"))


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, repr(result.stderr)
    return result.stderr


def test_eval_of_a_missing_run(tmp_path):
    assert "no such directory" in one_line(cli("eval", str(tmp_path / "absent")))


def test_eval_of_an_incomplete_run(run, tmp_path):
    partial = tmp_path / "partial"
    shutil.copytree(run, partial)
    (partial / "normalization.json").unlink()
    assert "lacks normalization.json" in one_line(cli("eval", str(partial)))


def test_eval_of_a_run_whose_plugin_is_not_installed(run, tmp_path):
    foreign = tmp_path / "foreign"
    shutil.copytree(run, foreign)
    plugins = json.loads((foreign / "plugins.json").read_text())
    plugins["backbone"] = {"name": "openvla", "distribution": "robovlms-openvla", "version": "1.2.0"}
    (foreign / "plugins.json").write_text(json.dumps(plugins))
    assert "robovlms-openvla" in one_line(cli("eval", str(foreign)))


def test_demo_end_to_end_at_a_small_size(tmp_path):
    output = tmp_path / "demo"
    result = cli(
        "demo", "--output", str(output), "--episodes", "6", "--eval-episodes", "1", "--max-steps", "3", "--json"
    )
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads(result.stdout)
    assert {"success_rate", "expert_success_rate", "language_blind_success_rate", "seconds", "report"} <= set(summary)
    assert summary["expert_success_rate"] == 1.0
    report = (output / "report.md").read_text()
    assert "scripted expert" in report and "instruction hidden" in report
    for picture in ("loss.png", "rollouts.png"):
        assert (output / picture).stat().st_size > 1000
    again = cli(
        "demo", "--output", str(output), "--episodes", "6", "--eval-episodes", "1", "--max-steps", "3", "--json"
    )
    assert again.returncode == 0, "an earlier demo's output is replaced"


def test_demo_refuses_a_folder_it_did_not_write(tmp_path):
    (tmp_path / "thesis.tex").write_text("precious")
    assert "not an earlier demo" in one_line(cli("demo", "--output", str(tmp_path)))
    assert (tmp_path / "thesis.tex").exists()
