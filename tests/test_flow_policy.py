"""A flow-matching VLA in the streaming policy: seeded, reproducible after save/load, as cheap in model calls."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import tiny_vla

from robovlms import VLA
from robovlms.evaluation.closed_loop import evaluate


def observations(n: int) -> list[dict]:
    rng = np.random.default_rng(1)
    return [{"image": rng.integers(0, 256, (40, 40, 3), dtype=np.uint8), "instruction": "pick up the red block"}] * n


def rollout(vla: VLA, seed: int, steps: int = 8, **settings) -> np.ndarray:
    policy = vla.policy(**settings)
    policy.reset(seed)
    return np.stack([policy.step(o) for o in observations(steps)])


@pytest.fixture(scope="module")
def flow_vla() -> VLA:
    return tiny_vla("paligemma", "flow", "policy_head")


def test_the_same_seed_gives_the_same_actions_and_another_seed_others(flow_vla: VLA) -> None:
    first, again, other = rollout(flow_vla, 3), rollout(flow_vla, 3), rollout(flow_vla, 4)
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first[:, :-1], other[:, :-1]), "the seed must reach the sampler's noise"


def test_save_and_load_reproduce_the_actions_exactly(flow_vla: VLA, tmp_path: Path) -> None:
    flow_vla.save_pretrained(tmp_path / "flow")
    loaded = VLA.from_pretrained(tmp_path / "flow")
    assert loaded.config.action_head.num_inference_steps == flow_vla.config.action_head.num_inference_steps
    np.testing.assert_array_equal(rollout(loaded, 3), rollout(flow_vla, 3))


@pytest.mark.parametrize("settings", [{"execute_steps": 4}, {"execute_steps": 1, "temporal_ensemble": True}])
def test_chunk_execution_and_ensembling_ask_the_model_as_often_as_for_lstm(flow_vla: VLA, settings: dict) -> None:
    counts = {}
    for name, vla in (("flow", flow_vla), ("lstm", tiny_vla("paligemma", "lstm", "policy_head"))):
        policy = vla.policy(**settings)
        policy.reset()
        actions = [policy.step(o) for o in observations(12)]
        assert all(np.isfinite(a).all() and a[-1] in (-1.0, 1.0) for a in actions)
        counts[name] = policy.model_calls
    assert counts["flow"] == counts["lstm"] == (3 if settings["execute_steps"] == 4 else 12)


def test_predict_draws_from_the_generator_it_is_given(flow_vla: VLA, batch: dict) -> None:
    def predict(seed: int) -> torch.Tensor:
        return flow_vla.predict(batch["images"], batch["instructions"], generator=torch.Generator().manual_seed(seed))

    torch.testing.assert_close(predict(0), predict(0), atol=0, rtol=0)
    assert not torch.allclose(predict(0)[..., :-1], predict(1)[..., :-1])


def test_closed_loop_evaluation_is_the_same_twice(flow_vla: VLA, tmp_path: Path) -> None:
    flow_vla.save_pretrained(tmp_path / "run")
    reports = [evaluate(tmp_path / "run", episodes=1, seed=7) for _ in range(2)]
    for report in reports:
        report.pop("step_time_ms"), report["expert"].pop("step_time_ms"), report["language_blind"].pop("step_time_ms")
    assert reports[0] == reports[1]
