"""The built-in tabletop task: deterministic, solvable by the expert, unsolvable without language."""

from __future__ import annotations

import numpy as np
import pytest

from robovlms.envs.tabletop import (
    BLOCK_HALF,
    CAMERAS,
    COLORS,
    EFFECTOR,
    MAX_STEP,
    SCENE,
    TASKS,
    TEMPLATES,
    TOP,
    WRIST,
    ScriptedExpert,
    TabletopEnv,
)
from robovlms.errors import InputError, RoboVLMsError


def run(env: TabletopEnv, seed: int, policy) -> tuple[bool, int]:
    env.reset(seed)
    done, success, steps = False, False, 0
    while not done:
        _, success, done = env.step(policy(env))
        steps += 1
    return success, steps


def toward(color_of):
    """A policy that drives the expert to the block ``color_of(env)`` picks, whatever the instruction says."""

    def policy(env: TabletopEnv) -> np.ndarray:
        delta = env.objects[color_of(env)] - env.effector
        action = np.zeros(7, dtype=np.float32)
        action[:2] = np.clip(delta, -MAX_STEP, MAX_STEP)
        action[-1] = -1.0 if np.abs(delta).max() < 1e-6 else 1.0
        return action

    return policy


def test_same_seed_same_episode_and_different_seeds_differ():
    a, b = TabletopEnv(image_size=32), TabletopEnv(image_size=32)
    first, second = a.reset(7), b.reset(7)
    assert first["instruction"] == second["instruction"]
    np.testing.assert_array_equal(first["images"][TOP], second["images"][TOP])
    np.testing.assert_array_equal(first["state"], second["state"])
    expert = ScriptedExpert()
    for _ in range(5):
        (oa, sa, da), (ob, sb, db) = a.step(expert.act(a)), b.step(expert.act(b))
        np.testing.assert_array_equal(oa["images"][TOP], ob["images"][TOP])
        assert (sa, da) == (sb, db)
    layouts = {tuple(TabletopEnv(32).reset(seed)["images"][TOP].ravel()[::7]) for seed in range(10)}
    assert len(layouts) == 10


def test_expert_always_succeeds_in_short_episodes():
    env, expert = TabletopEnv(image_size=32), ScriptedExpert()
    results = [run(env, seed, expert.act) for seed in range(50)]
    assert all(success for success, _ in results)
    lengths = [steps for _, steps in results]
    assert 8 <= min(lengths) and max(lengths) <= 15


@pytest.mark.parametrize(
    "pick",
    [
        lambda env: "red",
        lambda env: "blue",
        lambda env: min(env.objects, key=lambda c: np.linalg.norm(env.objects[c] - env.effector)),
        lambda env: list(COLORS)[int(env.objects["red"][0] * 1e6) % 3],  # arbitrary but fixed per episode
    ],
    ids=["always-red", "always-blue", "nearest", "arbitrary"],
)
def test_ignoring_the_instruction_fails_most_of_the_time(pick):
    env = TabletopEnv(image_size=16)
    rate = np.mean([run(env, seed, toward(pick))[0] for seed in range(60)])
    assert 0.1 <= rate <= 0.45


def test_every_template_and_color_is_used_and_named_in_the_task():
    env = TabletopEnv(image_size=16)
    seen_templates, seen_tasks = set(), set()
    for seed in range(60):
        instruction = env.reset(seed)["instruction"]
        assert env.target_color in instruction and env.task == f"pick {env.target_color}"
        seen_templates |= {t for t in TEMPLATES if t.format(color=env.target_color) == instruction}
        seen_tasks.add(env.task)
    assert seen_templates == set(TEMPLATES) and seen_tasks == set(TASKS)


@pytest.mark.parametrize("size", [16, 32, 64, 100])
def test_render_shows_every_block_and_the_effector_at_any_size(size):
    observation = TabletopEnv(image_size=size).reset(3)
    image = observation["images"][TOP]
    assert image.shape == (size, size, 3) and image.dtype == np.uint8
    pixels = image.reshape(-1, 3)
    for rgb in [*COLORS.values(), (255, 255, 255)]:
        share = np.all(pixels == rgb, axis=1).mean()
        assert share > 0.005, rgb
    state = observation["state"]
    assert state.dtype == np.float32 and state.shape == (4,) and state[-1] == 1.0


def test_closing_away_from_the_target_ends_the_episode_as_a_failure():
    env = TabletopEnv(image_size=16)
    env.reset(0)
    wrong = next(c for c in COLORS if c != env.target_color)
    success, _ = run(env, 0, toward(lambda e: wrong))
    assert not success
    env.reset(0)
    _, success, done = env.step(np.array([0, 0, 0, 0, 0, 0, -1.0]))
    assert done and not success and env.state()[-1] == -1.0
    with pytest.raises(RoboVLMsError, match="reset"):
        env.step(np.zeros(7))


@pytest.mark.parametrize(("offset", "grasped"), [((0.19, -0.19), True), ((0.21, 0.0), False), ((0.0, -0.21), False)])
def test_a_grasp_counts_anywhere_over_the_blocks_footprint(offset, grasped):
    env = TabletopEnv(image_size=16)
    env.reset(4)
    env.effector = env.target + np.array(offset)
    _, success, done = env.step(np.array([0, 0, 0, 0, 0, 0, -1.0]))
    assert done and success == grasped


def test_the_expert_slows_down_so_its_last_steps_are_already_over_the_block():
    env, expert = TabletopEnv(image_size=16), ScriptedExpert()
    for seed in range(40):
        env.reset(seed)
        over, done = [], False
        while not done:
            over.append(bool(np.all(np.abs(env.effector - env.target) <= BLOCK_HALF)))
            _, _, done = env.step(expert.act(env))
        assert all(over[-2:]), seed  # closing a step early still grasps


def test_arm_deltas_are_clipped_and_only_x_y_act():
    env = TabletopEnv(image_size=16, max_steps=3)
    env.reset(1)
    before = env.effector.copy()
    observation, success, done = env.step(np.array([5.0, -5.0, 9.0, 1.0, 1.0, 1.0, 1.0]))
    np.testing.assert_allclose(env.effector - before, [MAX_STEP, -MAX_STEP])
    assert observation["state"][2] == 0.0 and not success and not done
    env.step(np.array([0, 0, 0, 0, 0, 0, 1.0]))
    assert env.step(np.array([0, 0, 0, 0, 0, 0, 1.0]))[2]  # max_steps reached with the gripper open


@pytest.mark.parametrize("action", [np.zeros(6), np.full(7, np.nan)])
def test_bad_actions_are_refused_in_one_line(action):
    env = TabletopEnv(image_size=16)
    env.reset(0)
    with pytest.raises(InputError) as excinfo:
        env.step(action)
    assert "\n" not in str(excinfo.value)


def test_the_wrist_camera_shows_what_lies_under_the_effector_and_the_scene_camera_no_arm():
    env, expert = TabletopEnv(image_size=32, cameras=CAMERAS), ScriptedExpert()
    observation, done = env.reset(5), False
    assert set(observation["images"]) == set(CAMERAS)
    np.testing.assert_array_equal(observation["images"][TOP], env.render(TOP))
    first_wrist = observation["images"][WRIST]
    while not done:
        last = observation
        observation, _, done = env.step(expert.act(env))
    for camera in (TOP, SCENE):  # both see the whole table, only the top one the arm
        has_arm = np.all(last["images"][camera].reshape(-1, 3) == EFFECTOR, axis=1).any()
        assert has_arm == (camera == TOP)
    target = np.array(COLORS[env.target_color])
    centre = last["images"][WRIST][12:20, 12:20].reshape(-1, 3)
    assert np.all(centre == target, axis=1).all(), "over the block, the close-up sees nothing but the block"
    assert not np.all(first_wrist[12:20, 12:20].reshape(-1, 3) == target, axis=1).any()


def test_an_unknown_camera_is_a_one_line_error():
    with pytest.raises(InputError, match=r"observation\.images\.side"):
        TabletopEnv(cameras=("observation.images.side",))
