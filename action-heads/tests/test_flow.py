"""The ``flow`` head: it samples the modes of its demonstrations instead of averaging them, reproducibly."""

from __future__ import annotations

import pytest
import torch
from heads_helpers import CHUNK, HISTORY, actions, build, features

from robovlms.model.action_head import BaseActionHead

#: the arm value of the two equally good expert modes (all arm values of a chunk share the mode's sign)
MODE = 0.6


def _train_on_two_modes(name: str, steps: int) -> BaseActionHead:
    """One situation (the same features every time), and an expert that goes to +MODE or -MODE at random."""
    torch.manual_seed(0)
    head = build(name, hidden_size=64).train()
    optimizer = torch.optim.Adam(head.parameters(), lr=3e-3)
    situation = features(1, 1).expand(64, 1, 1, -1)
    frame_mask = torch.ones(64, 1, dtype=torch.bool)
    action_mask = torch.ones(64, 1, CHUNK, dtype=torch.bool)
    for _ in range(steps):
        sign = torch.randint(0, 2, (64, 1, 1, 1)) * 2.0 - 1
        chunk = torch.cat([sign.expand(64, 1, CHUNK, 6) * MODE, torch.ones(64, 1, CHUNK, 1)], dim=-1)
        loss = head.loss(head(situation, frame_mask), chunk, action_mask)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return head.eval()


def _decoded_arm(head: BaseActionHead, samples: int = 200) -> torch.Tensor:
    """The mean arm value of each of ``samples`` decoded chunks for that one situation."""
    with torch.no_grad():
        context = head(features(1, 1).expand(samples, 1, 1, -1), torch.ones(samples, 1, dtype=torch.bool))
        if head.stochastic:
            decoded = head.decode(context, generator=torch.Generator().manual_seed(0))  # type: ignore[call-arg]
        else:
            decoded = head.decode(context)
    return decoded[..., :-1].mean(dim=(-2, -1)).flatten()


def test_flow_samples_both_expert_modes_where_mlp_averages_them() -> None:
    flow, mlp = _decoded_arm(_train_on_two_modes("flow", 1000)), _decoded_arm(_train_on_two_modes("mlp", 300))
    near_plus, near_minus = (flow > MODE - 0.2).float().mean(), (flow < 0.2 - MODE).float().mean()
    between = (flow.abs() < 0.2).float().mean()
    assert near_plus > 0.25 and near_minus > 0.25, f"flow: {near_plus:.0%} near +{MODE}, {near_minus:.0%} near -{MODE}"
    assert between < 0.15, f"flow: {between:.0%} of its chunks fall between the modes"
    assert flow.std() > 0.4
    assert mlp.abs().max() < 0.2 and mlp.std() < 0.05, "a regression head predicts the mean of the two modes"


def test_samples_reproduce_a_memorised_batch() -> None:
    torch.manual_seed(0)
    head = build("flow", hidden_size=64).train()
    inputs, targets = features(4, HISTORY), actions(4, HISTORY)
    frame_mask = torch.ones(4, HISTORY, dtype=torch.bool)
    action_mask = torch.ones(4, HISTORY, CHUNK, dtype=torch.bool)
    optimizer = torch.optim.Adam(head.parameters(), lr=3e-3)
    for _ in range(400):
        loss = head.loss(head(inputs, frame_mask), targets, action_mask)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        decoded = head.eval().decode(head(inputs, frame_mask), generator=torch.Generator().manual_seed(0))
    assert (decoded[..., :-1] - targets[..., :-1]).abs().mean() < 0.15
    assert torch.equal(decoded[..., -1] > 0.5, targets[..., -1] > 0)


@pytest.mark.parametrize("steps", [1, 5, 10])
def test_decoding_takes_num_inference_steps_euler_steps(steps: int) -> None:
    head = build("flow", num_inference_steps=steps).eval()
    calls = []
    head.velocity.register_forward_hook(lambda *_: calls.append(1))
    with torch.no_grad():
        decoded = head.decode(head(features(2, HISTORY), torch.ones(2, HISTORY, dtype=torch.bool)))
    assert len(calls) == steps and decoded.shape == (2, HISTORY, CHUNK, 7)


@pytest.mark.parametrize("sampling", ["beta", "uniform"])
def test_training_time_is_drawn_as_configured(sampling: str, monkeypatch: pytest.MonkeyPatch) -> None:
    head = build("flow", time_sampling=sampling)
    times = head._times(torch.Size([20000]), torch.zeros(1))
    assert 0 < times.min() and times.max() <= 1
    # Beta(1.5, 1) has mean 0.6 and favours noisy inputs; uniform has mean 0.5
    assert abs(times.mean().item() - (0.6 if sampling == "beta" else 0.5)) < 0.02
