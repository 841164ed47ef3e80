"""The streaming policy: history, feature cache, chunk execution, ensembling and its one-line errors."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import tiny_vla

from robovlms import InputError, RoboVLMsError


def observations(n: int, instruction: str = "pick up the red block"):
    rng = np.random.default_rng(1)
    return [{"image": rng.integers(0, 256, (40, 40, 3), dtype=np.uint8), "instruction": instruction} for _ in range(n)]


@pytest.fixture(scope="module")
def lstm_vla():
    return tiny_vla("paligemma", "lstm", "policy_head", history_length=16)


def test_step_returns_one_action(lstm_vla):
    policy = lstm_vla.policy()
    policy.reset()
    action = policy.step(observations(1)[0])
    assert action.shape == (7,) and action.dtype == np.float32 and action[-1] in (-1.0, 1.0)


@pytest.mark.parametrize("window", [1, 16])
def test_policy_head_runs_the_backbone_on_new_frames_only(window):
    vla = tiny_vla("paligemma", "lstm", "policy_head", history_length=window)
    policy = vla.policy()
    policy.reset()
    for observation in observations(20):
        policy.step(observation)
    assert policy.frames_encoded == 20 and policy.model_calls == 20


def test_cache_gives_the_same_actions_as_recomputing(lstm_vla):
    cached = lstm_vla.policy()
    cached.reset()
    steps = observations(6)
    actions = [cached.step(o) for o in steps]
    cached.cache_features = False
    cached.reset()
    again = [cached.step(o) for o in steps]
    np.testing.assert_allclose(np.stack(actions), np.stack(again), atol=1e-5)
    assert cached.frames_encoded > 6 + 6


@pytest.mark.parametrize("k", [1, 2, 4])
def test_chunk_execution_asks_the_model_once_per_k_steps(lstm_vla, k):
    policy = lstm_vla.policy(execute_steps=k)
    policy.reset()
    for observation in observations(12):
        policy.step(observation)
    assert policy.model_calls == -(-12 // k)
    # frames between calls still enter the history, each encoded once, when the next call comes
    assert policy.frames_encoded == (policy.model_calls - 1) * k + 1


def test_temporal_ensembling_averages_overlapping_chunks(lstm_vla):
    plain, ensembled = lstm_vla.policy(), lstm_vla.policy(temporal_ensemble=True)
    plain.reset()
    ensembled.reset()
    steps = observations(5)
    first = [plain.step(o) for o in steps]
    second = [ensembled.step(o) for o in steps]
    np.testing.assert_allclose(first[0], second[0])  # one chunk covers the first step
    assert not np.allclose(first[3][:-1], second[3][:-1])


def test_one_step_and_interleaved_policies_run():
    for head, mode in (("mlp", "one_step"), ("mlp", "interleaved")):
        policy = tiny_vla("llava", head, mode).policy()
        policy.reset()
        assert all(policy.step(o).shape == (7,) for o in observations(4))


def test_execute_steps_beyond_the_chunk_is_refused(lstm_vla):
    with pytest.raises(RoboVLMsError):
        lstm_vla.policy(execute_steps=99)


@pytest.mark.parametrize(
    ("observation", "expected"),
    [
        ({"image": np.zeros((40, 40, 3), np.float32), "instruction": "x"}, "dtype uint8"),
        ({"image": np.zeros((40, 40), np.uint8), "instruction": "x"}, "shape (H, W, 3)"),
        ({"image": np.zeros((40, 40, 4), np.uint8), "instruction": "x"}, "shape (H, W, 3)"),
        ({"image": np.zeros((40, 40, 3), np.uint8)}, "observation['instruction']"),
        ({"instruction": "x"}, "observation['image']: missing"),
        ("an image", "expected a dict"),
    ],
)
def test_bad_observations_are_one_line_errors(lstm_vla, observation, expected):
    policy = lstm_vla.policy()
    policy.reset()
    with pytest.raises(InputError) as excinfo:
        policy.step(observation)
    assert expected in str(excinfo.value) and "\n" not in str(excinfo.value)


def test_step_before_reset(lstm_vla):
    with pytest.raises(RoboVLMsError, match=r"before policy\.reset\(\)"):
        lstm_vla.policy().step(observations(1)[0])
