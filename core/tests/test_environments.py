"""Environments are plugins: listed, isolated and loaded like backbones and heads; the tabletop is one."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from robovlms import PluginError
from robovlms.datasets.lerobot import LeRobotDataset
from robovlms.datasets.recording import RECORDED, generate
from robovlms.envs.base import BaseEnvironment, environment_class, environment_options, parse_options
from robovlms.envs.registered import Tabletop
from robovlms.envs.tabletop import TASKS
from robovlms.envs.tabletop import TOP as CAMERA
from robovlms.errors import DatasetError, InputError
from robovlms.plugins import load

GOOD_ENV = """
    import numpy as np
    from robovlms.envs.base import BaseEnvironment

    class Goodenv(BaseEnvironment):
        name = "goodenv"
        TASKS = {"wave": ("wave",)}
        CAMERAS = ("observation.image",)
"""


def env_plugin(site, dist: str, module: str, *, name: str = "goodenv", body: str | None = None) -> None:
    body = body or f"from {module}_impl import Goodenv; return [Goodenv]"
    site.dist(
        dist,
        entry_points={"robovlms.environments": {name: module}},
        modules={
            module: f"""
                import robovlms
                PLUGIN_API = "1.2"

                @robovlms.hookimpl
                def robovlms_register_environments():
                    {body}
            """,
            f"{module}_impl": GOOD_ENV,
        },
    )


def test_plugins_lists_the_tabletop_as_an_environment_without_importing_it():
    code = "import json, sys; from robovlms.cli import main; main(['plugins', '--json']); print(sorted(sys.modules))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    listing, modules = proc.stdout.rsplit("\n", 2)[0], proc.stdout.rsplit("\n", 2)[1]
    rows = [r for r in json.loads(listing) if r["kind"] == "environment"]
    tabletop = next(r for r in rows if r["name"] == "tabletop")
    assert tabletop["distribution"] == "robovlms" and tabletop["status"] == "ok"
    assert "'robovlms.envs.registered'" not in modules and "'torch'" not in modules


@pytest.mark.parametrize(
    ("body", "status", "cause"),
    [
        (
            "raise RuntimeError('no display')",
            "error",
            "robovlms_register_environments() raised RuntimeError: no display",
        ),
        (
            "from robovlms.envs.registered import Tabletop; return [Tabletop]",
            "invalid",
            "robovlms.envs.BaseEnvironment",
        ),
    ],
)
def test_a_broken_environment_is_isolated(site, body, status, cause):
    env_plugin(site, "fake-goodenv", "fake_goodenv")
    env_plugin(site, "fake-badenv", "fake_badenv", name="badenv", body=body)
    # the real backbones and heads stay out of the check: loading them would only cost time
    environment = {**os.environ, "PYTHONPATH": str(site.root), "ROBOVLMS_PLUGINS": "fake-goodenv,fake-badenv,robovlms"}
    proc = subprocess.run(
        [sys.executable, "-m", "robovlms", "plugins", "--json", "--check"],
        capture_output=True,
        text=True,
        env=environment,
    )
    rows = {r["distribution"]: r for r in json.loads(proc.stdout)}
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert rows["fake-goodenv"]["status"] == "ok" and rows["fake-goodenv"]["kind"] == "environment"
    assert rows["fake-badenv"]["status"] == status and cause in rows["fake-badenv"]["reason"]
    assert rows["robovlms"]["status"] == "ok"  # the tabletop, and every other plugin, unharmed
    assert load("environment", "goodenv").__name__ == "Goodenv"
    with pytest.raises(PluginError) as excinfo:
        environment_class("badenv")
    assert "fake-badenv" in str(excinfo.value) and cause in str(excinfo.value)


def test_an_unknown_environment_lists_the_installed_ones():
    with pytest.raises(PluginError, match=r"unknown environment 'tabeltop' \(did you mean 'tabletop'\?\).*tabletop"):
        environment_class("tabeltop")


def test_tabletop_registers_through_its_entry_point_and_keeps_its_episodes():
    cls = environment_class("tabletop")
    assert cls is Tabletop and issubclass(cls, BaseEnvironment) and cls.HAS_EXPERT
    env = cls(image_size=32)
    observation = env.reset(7)
    assert set(observation["images"]) == {CAMERA} and observation["images"][CAMERA].shape == (32, 32, 3)
    assert env.task in TASKS and env.task_of(7) == env.task
    assert observation["state"].shape == (len(cls.STATE),)
    done, success = False, False
    while not done:
        observation, success, done = env.step(env.expert_action())
    assert success


def test_tasks_choose_the_episodes_and_unknown_ones_are_one_line_errors():
    env = Tabletop(image_size=16, tasks=["pick green"])
    assert {env.task_of(seed) for seed in range(20)} == {"pick green"}
    assert all("green" in (env.reset(seed), env.instruction)[1] for seed in range(5))
    with pytest.raises(InputError, match="tabletop tasks: got pick pink; expected distinct names among pick red"):
        Tabletop(tasks=["pick pink"])
    with pytest.raises(InputError, match="tabletop cameras"):
        Tabletop(cameras=["observation.images.side"])


def test_a_dataset_records_its_environment_and_tasks(tmp_path):
    done = generate(tmp_path / "data", 3, env="tabletop", tasks=["pick red", "pick blue"], image_size=16)
    info = json.loads((tmp_path / "data" / "meta" / "info.json").read_text())
    assert (
        info[RECORDED] == {"name": "tabletop", "tasks": ["pick red", "pick blue"], "options": {}}
        and info["robot_type"] == "tabletop"
    )
    dataset = LeRobotDataset(done.path)
    assert len(dataset.tasks) >= 1 and all("red" in task or "blue" in task for task in dataset.tasks)
    assert dataset.features["observation.state"]["shape"] == [4] and CAMERA in dataset.features
    with pytest.raises(DatasetError, match="already exists"):
        generate(tmp_path / "data", 1)


def test_options_are_checked_against_the_environment_and_recorded(tmp_path):
    assert environment_options(Tabletop) == {"max_steps": 30}
    with pytest.raises(
        InputError, match=r"^environment 'tabletop' has no option 'jiter'; its options: max_steps \(default 30\)$"
    ):
        generate(tmp_path / "bad", 1, options={"jiter": 0.1})
    with pytest.raises(InputError, match=r"option max_steps: expected a value like its default 30, got \"many\"$"):
        generate(tmp_path / "bad", 1, options=parse_options(["max_steps=many"]))
    with pytest.raises(InputError, match=r"--option 'max_steps': expected KEY=VALUE"):
        parse_options(["max_steps"])
    assert not (tmp_path / "bad").exists()  # nothing is written for a refused option
    generate(tmp_path / "data", 2, image_size=16, options=parse_options(["max_steps=4"]))
    info = json.loads((tmp_path / "data" / "meta" / "info.json").read_text())
    assert info[RECORDED]["options"] == {"max_steps": 4}
    assert max(e.length for e in LeRobotDataset(tmp_path / "data").episodes) <= 4  # the option took effect
