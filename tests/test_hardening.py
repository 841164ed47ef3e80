"""Hostile or careless inputs around a saved VLA: no foreign code runs, no NaN leaves the policy, no traceback.

The property test at the end mutates valid configs at random and holds ``robovlms validate`` to its
promise: exit 0 or 2, never a traceback.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import tiny_config, tiny_vla
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from robovlms import VLA, CheckpointError, ModelError, PluginError, build_vla
from robovlms.cli import main
from robovlms.datasets.recording import generate
from robovlms.errors import TrainingError
from robovlms.serving.client import PolicyClient, ServerError
from robovlms.serving.server import PolicyServer
from robovlms.training.trainer import train

OBSERVATION = {"image": np.zeros((40, 40, 3), np.uint8), "instruction": "pick up the red block"}


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("saved") / "run"
    tiny_vla("paligemma", "mlp", "one_step").save_pretrained(folder)
    return folder


def copy(saved: Path, tmp_path: Path) -> Path:
    import shutil

    return Path(shutil.copytree(saved, tmp_path / "run"))


def one_line(excinfo: pytest.ExceptionInfo[BaseException]) -> str:
    message = str(excinfo.value)
    assert message and "\n" not in message
    return message


# -- 1. a run folder never turns on remote code by itself -------------------------------------------


def plant_remote_code(run: Path, marker: Path) -> None:
    """What a hostile run folder would hold: trust asked for in its config, and code in its backbone."""
    config = json.loads((run / "config.json").read_text())
    config["vlm"]["trust_remote_code"] = True
    (run / "config.json").write_text(json.dumps(config))
    backbone = json.loads((run / "backbone" / "config.json").read_text())
    backbone["auto_map"] = {"AutoConfig": "configuration_evil.EvilConfig"}
    (run / "backbone" / "config.json").write_text(json.dumps(backbone))
    (run / "backbone" / "configuration_evil.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n")


def test_a_run_folder_cannot_turn_on_remote_code(saved: Path, tmp_path: Path, capsys) -> None:
    run, marker = copy(saved, tmp_path), tmp_path / "remote-code-ran"
    plant_remote_code(run, marker)
    with pytest.raises(CheckpointError) as excinfo:
        VLA.from_pretrained(run)
    assert "--trust-remote-code" in one_line(excinfo)
    assert main(["eval", str(run), "--episodes", "1"]) == 2
    assert main(["serve", str(run), "--port", "0"]) == 2
    assert "Traceback" not in capsys.readouterr().err
    assert not marker.exists(), "the folder's code ran without the caller's consent"


def test_the_callers_trust_is_what_lets_the_code_run(saved: Path, tmp_path: Path, monkeypatch) -> None:
    run, marker = copy(saved, tmp_path), tmp_path / "remote-code-ran"
    plant_remote_code(run, marker)
    monkeypatch.setenv("ROBOVLMS_TRUST_REMOTE_CODE", "1")
    with pytest.raises(CheckpointError):  # the planted module defines no config class
        VLA.from_pretrained(run)
    assert marker.read_text() == "ran"


def test_pickled_weights_are_refused_and_never_unpickled(saved: Path, tmp_path: Path) -> None:
    run, marker = copy(saved, tmp_path), tmp_path / "pickle-ran"
    (run / "backbone" / "model.safetensors").unlink()

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    (run / "backbone" / "pytorch_model.bin").write_bytes(pickle.dumps(Payload()))
    with pytest.raises(CheckpointError) as excinfo:
        VLA.from_pretrained(run)
    assert "pytorch_model.bin (pickle)" in one_line(excinfo) and "safetensors" in str(excinfo.value)
    assert not marker.exists()


@pytest.mark.parametrize("record", [[1, 2], "paligemma", {"name": 3}, None])
def test_a_plugins_json_of_the_wrong_shape_is_one_line(saved: Path, tmp_path: Path, record) -> None:
    run = copy(saved, tmp_path)
    plugins = json.loads((run / "plugins.json").read_text())
    plugins["backbone"] = record
    (run / "plugins.json").write_text(json.dumps(plugins))
    with pytest.raises(CheckpointError) as excinfo:
        VLA.from_pretrained(run)
    assert "plugins.json: backbone must be an object" in one_line(excinfo)


def test_unknown_names_say_which_key_held_them() -> None:
    with pytest.raises(PluginError) as excinfo:
        build_vla(tiny_config("no-such-vlm", "mlp", "one_step"))
    assert one_line(excinfo).startswith("model.backbone: unknown backbone 'no-such-vlm'")


# -- 5. no NaN action leaves the policy ----------------------------------------------------------------


def poisoned() -> VLA:
    vla = tiny_vla("paligemma", "mlp", "one_step")
    with torch.no_grad():
        for parameter in vla.head.parameters():
            parameter.fill_(float("nan"))
    return vla


def test_a_non_finite_action_is_refused_not_returned() -> None:
    policy = poisoned().policy()
    policy.reset()
    with pytest.raises(ModelError) as excinfo:
        policy.step(OBSERVATION)
    assert "non-finite action at step 0" in one_line(excinfo)


def test_the_server_answers_a_non_finite_action_with_an_error() -> None:
    with PolicyServer(poisoned(), port=0).start() as server, PolicyClient(server.url, timeout=20) as client:
        client.reset()
        with pytest.raises(ServerError, match="non-finite action"):
            client.step(OBSERVATION["image"], OBSERVATION["instruction"])


def test_nan_normalisation_statistics_are_refused_on_load(saved: Path, tmp_path: Path) -> None:
    run = copy(saved, tmp_path)
    statistics = json.loads((run / "normalization.json").read_text())
    statistics["low"][0] = float("nan")
    (run / "normalization.json").write_text(json.dumps(statistics))
    with pytest.raises(CheckpointError) as excinfo:
        VLA.from_pretrained(run)
    assert "NaN or infinity" in one_line(excinfo)


# -- 4. training never ends "successfully" with non-finite weights ----------------------------------------


def test_a_diverging_run_stops_at_the_step_and_keeps_its_last_good_checkpoint(tmp_path: Path) -> None:
    generate(tmp_path / "data", 4, image_size=32)
    config = tiny_config("paligemma", "mlp", "one_step").model_dump()
    config["data"] = {"path": str(tmp_path / "data"), "validation_split": 0}
    config["training"].update(learning_rate=1e30, batch_size=4, max_steps=6, checkpoint_every=1, gradient_clip=None)
    from robovlms import load_config

    with pytest.raises(TrainingError) as excinfo:
        train(load_config(config), tmp_path / "run", progress=False)
    message = one_line(excinfo)
    assert message.startswith("step ") and "is intact" in message
    assert not (tmp_path / "run" / "config.json").exists(), "no final model is written for a diverged run"
    assert sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir())


# -- the property: robovlms validate never traces back ---------------------------------------------------

SEED_CONFIG = json.loads((Path(__file__).parents[1] / "core" / "tests" / "seeds" / "paligemma_config.json").read_text())
ODD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=300),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


@st.composite
def mutated_configs(draw: st.DrawFn) -> object:
    config = json.loads(json.dumps(SEED_CONFIG))
    for _ in range(draw(st.integers(1, 4))):
        section = draw(st.sampled_from([*config, "extra"]))
        values = config.get(section)
        if not isinstance(values, dict) or draw(st.integers(0, 9)) == 0:
            config[section] = draw(ODD_VALUES)
            continue
        key = draw(st.sampled_from([*values, "unknown_key"]))
        values[key] = draw(ODD_VALUES)
    return config


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mutated_configs())
def test_validate_exits_0_or_2_and_never_traces_back(tmp_path: Path, capsys, config: object) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    code = main(["validate", str(path)])
    err = capsys.readouterr().err
    assert code in (0, 2) and "Traceback" not in err
    assert all(len(line) < 2000 for line in err.splitlines())


# -- 9. a hub id with no network fails within seconds ------------------------------------------------------


def test_a_hub_id_without_a_network_fails_fast_with_what_to_do(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys
    import time

    config = tmp_path / "config.json"
    config.write_text(
        json.dumps(
            {
                "model": {"backbone": "paligemma", "action_head": "mlp", "history_mode": "one_step"},
                "vlm": {"model_name": "google/paligemma-3b-pt-224"},
            }
        )
    )
    # a hub on a loopback port nobody listens on, and an empty cache: as on a machine with no network
    env = {**os.environ, "HF_ENDPOINT": "http://127.0.0.1:9", "HF_HOME": str(tmp_path / "hf"), "OMP_NUM_THREADS": "1"}
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "robovlms", "benchmark", str(config)], capture_output=True, text=True, env=env
    )
    elapsed = time.perf_counter() - start
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "cannot be reached" in done.stderr and "local folder" in done.stderr
    assert elapsed < 30, f"took {elapsed:.0f} s"


# -- 2. a name can be qualified by the distribution that provides it -----------------------------------------


def test_a_qualified_name_builds_saves_and_loads(tmp_path: Path) -> None:
    vla = build_vla(tiny_config("robovlms-paligemma:paligemma", "robovlms-action-heads:mlp", "one_step"))
    vla.save_pretrained(tmp_path / "run")
    plugins = json.loads((tmp_path / "run" / "plugins.json").read_text())
    assert (plugins["backbone"]["name"], plugins["backbone"]["distribution"]) == ("paligemma", "robovlms-paligemma")
    loaded = VLA.from_pretrained(tmp_path / "run")
    assert loaded.config.model.backbone == "robovlms-paligemma:paligemma"
    policy = loaded.policy()
    policy.reset()
    assert np.isfinite(policy.step(OBSERVATION)).all()
