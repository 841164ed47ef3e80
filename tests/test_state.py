"""The robot state as a model input: it changes the actions, it is required where trained, and it
travels with the checkpoint (its normalisation included)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import tiny_vla

from robovlms import InputError
from robovlms.model.vla import VLA

STATE_DIM = 4
COMBOS = [("paligemma", "lstm", "policy_head"), ("llava", "mlp", "one_step"), ("flamingo", "gpt", "policy_head")]


def states(batch: int, frames: int, seed: int = 0) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).uniform(-1, 1, (batch, frames, STATE_DIM)).astype(np.float32))


@pytest.fixture(scope="module")
def stated():
    vla = tiny_vla("paligemma", "lstm", "policy_head", state_dim=STATE_DIM)
    vla.state_encoder.fit({"q01": [-0.5, -1.0, 0.0, -1.0], "q99": [0.5, 1.0, 0.0, 1.0]})  # z constant in the data
    return vla


@pytest.mark.parametrize("combo", COMBOS, ids=["-".join(c) for c in COMBOS])
def test_the_state_changes_the_prediction_and_gets_gradients(combo, batch):
    vla = tiny_vla(*combo, state_dim=STATE_DIM).train()
    images, instructions = batch["images"], batch["instructions"]
    one = vla.predict(images, instructions, states=states(2, 3, seed=1))
    two = vla.predict(images, instructions, states=states(2, 3, seed=2))
    assert not torch.allclose(one, two)
    out = vla(**batch, states=states(2, 3))
    out["loss"].backward()
    assert vla.state_encoder.projection.weight.grad.abs().sum() > 0


def one_line(excinfo) -> str:
    message = str(excinfo.value)
    assert "\n" not in message
    return message


def test_a_state_model_without_states_or_with_the_wrong_shape_is_a_one_line_error(stated, batch):
    with pytest.raises(InputError) as excinfo:
        stated.predict(batch["images"], batch["instructions"])
    assert "model.state_dim is 4" in one_line(excinfo) and "(2, 3, 4)" in one_line(excinfo)
    with pytest.raises(InputError) as excinfo:
        stated.predict(batch["images"], batch["instructions"], states=states(2, 2))
    assert "expected shape (2, 3, 4), got (2, 2, 4)" in one_line(excinfo)
    with pytest.raises(InputError) as excinfo:
        stated.predict(batch["images"], batch["instructions"], states=torch.full((2, 3, 4), float("nan")))
    assert "finite" in one_line(excinfo)


def test_states_for_a_model_without_them_are_refused(batch):
    with pytest.raises(InputError) as excinfo:
        tiny_vla().predict(batch["images"], batch["instructions"], states=states(2, 3))
    assert "takes no robot state" in one_line(excinfo)


def observations(n: int, with_state: bool = True) -> list[dict]:
    rng = np.random.default_rng(5)
    return [
        {
            "image": rng.integers(0, 256, (40, 40, 3), dtype=np.uint8),
            "instruction": "pick up the red block",
            **({"state": rng.uniform(-1, 1, STATE_DIM).astype(np.float32)} if with_state else {}),
        }
        for _ in range(n)
    ]


def rollout(vla, steps: list[dict], **settings) -> np.ndarray:
    policy = vla.policy(**settings)
    policy.reset()
    return np.stack([policy.step(o) for o in steps])


def test_the_policy_feeds_each_frames_state_with_its_cached_features(stated):
    steps = observations(6)
    cached = stated.policy()
    cached.reset()
    actions = np.stack([cached.step(o) for o in steps])
    cached.cache_features = False  # recomputing the window must see the same states
    cached.reset()
    np.testing.assert_allclose(actions, np.stack([cached.step(o) for o in steps]), atol=1e-5)
    moved = [{**o, "state": o["state"] + 0.5} for o in steps]
    assert not np.allclose(actions[:, :-1], rollout(stated, moved)[:, :-1])


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        (None, "observation['state']: missing; this model takes the robot state, 4 values"),
        (np.zeros(3, np.float32), "observation['state']: expected shape (4,), got (3,)"),
        (np.array([0, 0, np.inf, 0], np.float32), "observation['state']: expected finite values"),
        ("up", "observation['state']"),
    ],
)
def test_bad_states_are_one_line_errors(stated, state, expected):
    policy = stated.policy()
    policy.reset()
    observation = {**observations(1, with_state=False)[0], "state": state}
    with pytest.raises(InputError) as excinfo:
        policy.step(observation)
    assert expected in one_line(excinfo)


def test_save_and_load_keep_the_state_projection_and_its_range(stated, tmp_path):
    stated.save_pretrained(tmp_path / "vla")
    loaded = VLA.from_pretrained(tmp_path / "vla")
    torch.testing.assert_close(loaded.state_encoder.low, torch.tensor([-0.5, -1.0, 0.0, -1.0]))
    steps = observations(5)
    np.testing.assert_array_equal(rollout(stated, steps), rollout(loaded, steps))


def test_a_one_step_policy_takes_the_newest_state_only():
    vla = tiny_vla("llava", "mlp", "one_step", state_dim=STATE_DIM)
    steps = observations(4)
    older_changed = [*[{**o, "state": o["state"] * 0} for o in steps[:-1]], steps[-1]]
    np.testing.assert_array_equal(rollout(vla, steps)[-1], rollout(vla, older_changed)[-1])
