"""Meta-World behind the environment contract: the plugin, the action and state layouts, real physics.

Tests that render need OpenGL (Mesa's EGL or OSMesa without a GPU); where it is missing they are
skipped with the reason and what to install.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from robovlms.envs.base import environment_class
from robovlms.errors import InputError
from robovlms.plugins.discovery import discover
from robovlms_metaworld import rendering
from robovlms_metaworld.environment import CAMERAS, MetaWorld, from_metaworld, to_metaworld
from robovlms_metaworld.tasks import INSTRUCTIONS

needs_gl = pytest.mark.skipif(rendering.problem() is not None, reason=f"cannot render: {rendering.problem()}")
SHARED_SCENE = ("reach", "push", "pick-place")


def test_listed_as_an_environment_and_light_to_import():
    (info,) = [p for p in discover("environment") if p.name == "metaworld"]
    assert info.distribution == "robovlms-metaworld" and info.status == "ok"
    code = "import robovlms_metaworld.plugin, sys; print(sorted(sys.modules))"
    modules = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "'mujoco'" not in modules and "'metaworld'" not in modules and "'torch'" not in modules
    assert environment_class("metaworld") is MetaWorld


def test_actions_map_to_metaworld_and_back():
    action = np.array([0.5, -2.0, 0.1, 0.3, 0.3, 0.3, -1.0])  # the gripper closes, y is beyond the range
    mapped = to_metaworld(action)
    np.testing.assert_allclose(mapped, [0.5, -1.0, 0.1, 1.0])  # Meta-World closes on a positive grip
    back = from_metaworld(mapped)
    np.testing.assert_allclose(back, [0.5, -1.0, 0.1, 0, 0, 0, -1.0])
    assert from_metaworld(np.array([0, 0, 0, 0.0]))[-1] == 1.0  # no grip effort: open


def test_tasks_sharing_a_scene_are_told_apart_by_their_instructions():
    phrasings = {task: set(INSTRUCTIONS[task]) for task in SHARED_SCENE}
    assert all(len(p) >= 3 for p in phrasings.values())
    assert not (phrasings["reach"] & phrasings["push"] or phrasings["push"] & phrasings["pick-place"])


def test_bad_settings_are_one_line_errors():
    with pytest.raises(InputError, match="metaworld tasks: got fly; expected distinct names among reach"):
        MetaWorld(tasks=["fly"])
    with pytest.raises(InputError, match="metaworld jitter: expected 0 to 1"):
        MetaWorld(jitter=2.0)


@pytest.fixture(scope="module")
def env():
    with MetaWorld(tasks=["reach"], cameras=list(CAMERAS), image_size=32, jitter=0.1) as environment:
        yield environment


@needs_gl
def test_the_expert_solves_reach_and_both_cameras_render(env):
    observation = env.reset(4)
    assert env.task == "reach" and env.instruction in INSTRUCTIONS["reach"]
    for camera in CAMERAS:
        frame = observation["images"][camera]
        assert frame.shape == (32, 32, 3) and frame.dtype == np.uint8 and frame.std() > 10  # a scene, not a blank
    start = observation["state"].copy()
    assert start.shape == (4,)
    done, success, steps = False, False, 0
    while not done:
        observation, success, done = env.step(env.expert_action())
        steps += 1
    assert success and steps < 100
    assert np.linalg.norm(observation["state"][:3] - start[:3]) > 0.05  # the hand moved
    with pytest.raises(InputError, match="expected 7 finite values"):
        env.reset(4)
        env.step(np.zeros(4))


@needs_gl
def test_an_episode_is_fixed_by_its_seed(env):
    first = env.reset(11)
    again = env.reset(11)
    np.testing.assert_array_equal(first["state"], again["state"])
    for camera in env.cameras:
        np.testing.assert_array_equal(first["images"][camera], again["images"][camera])


@needs_gl
def test_report_smoke_run(tmp_path):
    """The one-command job at its smallest: 3 expert episodes, 2 training steps, one evaluation per task."""
    from robovlms_metaworld.report import main

    pytest.importorskip("robovlms_paligemma")
    pytest.importorskip("robovlms_action_heads")
    assert main(["--smoke", "--output", str(tmp_path / "out"), "--tasks", "reach,push"]) == 0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["environment"] == "metaworld" and set(summary["per_task"]) == {"reach", "push"}
    assert summary["evaluation"]["language_blind"]["episodes"] == summary["episodes"] == 2
    assert summary["render_fps"] > 0
    assert "Rendering:" in (tmp_path / "out" / "report.md").read_text()
    run = json.loads((tmp_path / "out" / "run" / "run.json").read_text())
    assert run["config"]["data"]["environment"] == "metaworld" and run["config"]["data"]["tasks"] == ["reach", "push"]
