"""VLA.save_pretrained and VLA.from_pretrained: identical policies back, clear errors otherwise."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from conftest import tiny_vla

from robovlms import VLA, CheckpointError, PluginError
from robovlms.model.normalization import ActionNormalizer, action_statistics


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    vla = tiny_vla("paligemma", "lstm", "policy_head")
    rng = np.random.default_rng(0)
    vla.normalizer = ActionNormalizer.from_statistics(action_statistics(rng.normal(size=(500, 7)) * 0.1))
    directory = tmp_path_factory.mktemp("run") / "vla"
    vla.save_pretrained(directory)
    return vla, directory


def rollout(vla, steps=6):
    rng = np.random.default_rng(3)
    policy = vla.policy()
    policy.reset()
    return np.stack(
        [
            policy.step({"image": rng.integers(0, 256, (40, 40, 3), dtype=np.uint8), "instruction": "stack"})
            for _ in range(steps)
        ]
    )


@pytest.mark.parametrize("combo", [("paligemma", "lstm", "policy_head"), ("flamingo", "discrete", "interleaved")])
def test_round_trip_reproduces_actions_exactly(combo, tmp_path):
    vla = tiny_vla(*combo)
    vla.save_pretrained(tmp_path / "vla")
    loaded = VLA.from_pretrained(tmp_path / "vla")
    np.testing.assert_array_equal(rollout(vla), rollout(loaded))


def test_round_trip_keeps_normalisation(saved):
    vla, directory = saved
    loaded = VLA.from_pretrained(directory)
    torch.testing.assert_close(loaded.normalizer.low, vla.normalizer.low)
    np.testing.assert_array_equal(rollout(vla), rollout(loaded))
    assert sorted(p.name for p in directory.iterdir()) == [
        "backbone",
        "config.json",
        "normalization.json",
        "plugins.json",
        "vla.safetensors",
    ]
    assert not list(directory.rglob("*.bin")) and not list(directory.rglob("*.pt")), "no pickle files"


def broken_copy(saved, tmp_path):
    target = tmp_path / "copy"
    shutil.copytree(saved[1], target)
    return target


def one_line(excinfo) -> str:
    assert "\n" not in str(excinfo.value)
    return str(excinfo.value)


def test_missing_directory(tmp_path):
    with pytest.raises(CheckpointError) as excinfo:
        VLA.from_pretrained(tmp_path / "nothing")
    assert "no such directory" in one_line(excinfo)


def test_incomplete_directory(saved, tmp_path):
    target = broken_copy(saved, tmp_path)
    (target / "vla.safetensors").unlink()
    with pytest.raises(CheckpointError) as excinfo:
        VLA.from_pretrained(target)
    assert "lacks vla.safetensors" in one_line(excinfo)


def test_corrupt_weights(saved, tmp_path):
    target = broken_copy(saved, tmp_path)
    (target / "vla.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(CheckpointError) as excinfo:
        VLA.from_pretrained(target)
    assert "vla.safetensors: unreadable" in one_line(excinfo)


def test_weights_that_do_not_match_the_config(saved, tmp_path):
    target = broken_copy(saved, tmp_path)
    config = json.loads((target / "config.json").read_text())
    config["action_head"]["hidden_size"] = 48
    (target / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError) as excinfo:
        VLA.from_pretrained(target)
    assert "the config needs" in one_line(excinfo)


def test_missing_plugin(saved, tmp_path):
    target = broken_copy(saved, tmp_path)
    plugins = json.loads((target / "plugins.json").read_text())
    plugins["backbone"] = {"name": "qwenvl", "distribution": "robovlms-qwenvl", "version": "0.3.0"}
    (target / "plugins.json").write_text(json.dumps(plugins))
    with pytest.raises(PluginError) as excinfo:
        VLA.from_pretrained(target)
    assert "'qwenvl' (robovlms-qwenvl 0.3.0), which is not installed" in one_line(excinfo)


def test_incompatible_plugin_version(saved, tmp_path):
    target = broken_copy(saved, tmp_path)
    plugins = json.loads((target / "plugins.json").read_text())
    plugins["action_head"]["version"] = "3.1.0"
    (target / "plugins.json").write_text(json.dumps(plugins))
    with pytest.raises(PluginError) as excinfo:
        VLA.from_pretrained(target)
    assert "was saved with robovlms-action-heads 3.1.0" in one_line(excinfo)


def test_corrupt_config(saved, tmp_path):
    target = broken_copy(saved, tmp_path)
    (target / "config.json").write_text("{")
    with pytest.raises(CheckpointError) as excinfo:
        VLA.from_pretrained(target)
    assert "config.json: corrupt" in one_line(excinfo)
