"""The config schema: the tutorial's configs validate unchanged, and every mistake names its key."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from robovlms import ConfigError, load_config

SEEDS = sorted((Path(__file__).parent / "seeds").glob("*.json"))


@pytest.mark.parametrize("seed", SEEDS, ids=lambda p: p.stem)
def test_seed_configs_validate_unchanged(seed: Path) -> None:
    given = json.loads(seed.read_text())
    resolved = load_config(seed).model_dump()
    for section, values in given.items():
        for key, value in values.items():
            # the head's name is held once, as model.action_head, however the seed spells it
            where = ("model", "action_head") if (section, key) == ("action_head", "type") else (section, key)
            assert resolved[where[0]][where[1]] == value, f"{section}.{key}"


def test_missing_sections_take_defaults() -> None:
    config = load_config(SEEDS[0].parent / "action_head.json")
    assert config.model.backbone == "paligemma" and config.training.batch_size == 128
    assert config.model.action_head == "lstm"


def test_head_named_in_either_place_is_held_once() -> None:
    assert load_config({"model": {"action_head": "gpt"}}).model.action_head == "gpt"
    typed = load_config({"action_head": {"type": "mlp"}})
    assert typed.model.action_head == "mlp" and "type" not in typed.model_dump()["action_head"]
    assert load_config({"model": {"action_head": None}, "action_head": {"type": None}}).model.action_head == "lstm"


def problems(data: object) -> list[str]:
    with pytest.raises(ConfigError) as excinfo:
        load_config(data)  # type: ignore[arg-type]
    assert all("\n" not in p for p in excinfo.value.problems)
    return excinfo.value.problems


def test_unknown_key_names_its_dotted_path() -> None:
    (problem,) = problems({"training": {"learning_rte": 1e-4}})
    assert problem.startswith("training.learning_rte: unknown key")
    assert "did you mean 'learning_rate'" in problem


def test_unknown_section() -> None:
    (problem,) = problems({"optimizer": {}})
    assert problem.startswith("optimizer: unknown key") and "allowed: model, training" in problem


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"model": {"history_length": 0}}, "model.history_length"),
        ({"training": {"learning_rate": -1e-4}}, "training.learning_rate"),
        ({"training": {"warmup_ratio": 1.5}}, "training.warmup_ratio"),
        ({"training": {"batch_size": "big"}}, "training.batch_size"),
        ({"model": {"history_mode": "sideways"}}, "model.history_mode"),
        ({"action_head": {"dropout": 1.0}}, "action_head.dropout"),
        ({"vlm": []}, "vlm"),
    ],
)
def test_wrong_type_or_range_names_the_key(data: dict, key: str) -> None:
    (problem,) = problems(data)
    assert problem.startswith(f"{key}: ")


def test_every_problem_is_reported_at_once() -> None:
    found = problems({"model": {"history_length": 0}, "training": {"learning_rate": -1, "warmup_ratio": 2}})
    assert [p.split(":")[0] for p in found] == [
        "model.history_length",
        "training.learning_rate",
        "training.warmup_ratio",
    ]


def test_head_contradiction() -> None:
    (problem,) = problems({"model": {"action_head": "mlp"}, "action_head": {"type": "lstm"}})
    assert "model.action_head is 'mlp' but action_head.type is 'lstm'" in problem


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"data": {"state_key": "observation.state"}}, "data.state_key is 'observation.state' but model.state_dim"),
        ({"model": {"state_dim": 4}}, "model.state_dim is 4 but data.state_key is null"),
    ],
)
def test_a_state_key_without_its_length_or_the_reverse_is_refused(data: dict, expected: str) -> None:
    (problem,) = problems(data)
    assert expected in problem


def test_model_name_and_preset_contradict() -> None:
    (problem,) = problems({"vlm": {"model_name": "google/paligemma-3b-pt-224", "preset": "tiny"}})
    assert "vlm.model_name or vlm.preset" in problem


def test_a_camera_named_twice_is_refused() -> None:
    (problem,) = problems(
        {"data": {"image_keys": ["observation.image", "observation.images.wrist", "observation.image"]}}
    )
    assert "data.image_keys names camera 'observation.image' twice" in problem


def test_invalid_json_gives_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{\n  "model": {"backbone": "paligemma",}\n}\n')
    (problem,) = problems(path)
    assert problem.startswith(f"{path}:2:") and "invalid JSON" in problem


def test_missing_file(tmp_path: Path) -> None:
    (problem,) = problems(tmp_path / "absent.json")
    assert "no such config file" in problem


def validate(path: Path, extra_path: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **({"PYTHONPATH": str(extra_path)} if extra_path else {})}
    return subprocess.run(
        [sys.executable, "-m", "robovlms", "validate", str(path)], capture_output=True, text=True, env=env
    )


def test_cli_prints_one_line_per_problem_and_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"model": {"history_length": 0}, "training": {"warmup_ratio": 2, "lr": 1}}))
    proc = validate(path)
    assert proc.returncode == 2 and proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 3 and all(line.startswith(f"error: {path}: ") for line in lines)
    assert "Traceback" not in proc.stderr


def test_cli_unknown_plugin_names_list_installed_and_closest(site, tmp_path: Path) -> None:
    site.backbone_plugin("fake-good", "fake_good")
    site.head_plugin("fake-goodhead", "fake_goodhead")
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"model": {"backbone": "goodbon", "action_head": "nohead"}}))
    proc = validate(path, site.root)
    assert proc.returncode == 2
    backbone, head = proc.stderr.strip().splitlines()
    assert (
        "unknown backbone 'goodbon' (did you mean 'goodbone'?)" in backbone
        and "goodbone" in backbone.split("installed")[1]
    )
    assert "unknown action head 'nohead'" in head and "goodhead" in head


def test_cli_prints_resolved_config(site, tmp_path: Path) -> None:
    site.backbone_plugin("fake-good", "fake_good")
    site.head_plugin("fake-goodhead", "fake_goodhead")
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"model": {"backbone": "goodbone", "action_head": "goodhead"}}))
    proc = validate(path, site.root)
    assert proc.returncode == 0, proc.stderr
    resolved = json.loads(proc.stdout)
    assert resolved["model"]["action_head"] == "goodhead" and resolved["training"]["batch_size"] == 128
