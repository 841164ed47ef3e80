"""What every head must do, whatever it does inside."""

from __future__ import annotations

import pytest
import torch
from heads_helpers import ACTION_DIM, CHUNK, HEADS, HISTORY, actions, build, features

from robovlms.action_head import BaseActionHead

MODES = {
    "mlp": ("one_step", "interleaved"),
    "discrete": ("one_step", "interleaved"),
    "lstm": ("policy_head",),
    "gpt": ("policy_head",),
}


def _output_shape(head: BaseActionHead, batch: int, frames: int) -> tuple[int, ...]:
    bins = (head.config.bins,) if head.name == "discrete" else ()
    return (batch, frames, CHUNK, ACTION_DIM, *bins)


@pytest.mark.parametrize("name", HEADS)
def test_history_modes_and_reason(name: str) -> None:
    head = build(name)
    assert head.history_modes == MODES[name]
    assert head.mode_reason


# The history mode is not an input of a head: it changes how many frames arrive (one in one_step,
# the window otherwise), which T in {1, 4} covers for every mode a head allows.
@pytest.mark.parametrize("name", HEADS)
@pytest.mark.parametrize("frames", [1, 4])
@pytest.mark.parametrize("tokens", [1, 2])
def test_output_shapes(name: str, frames: int, tokens: int) -> None:
    head = build(name, tokens=tokens)
    prediction = head(features(2, frames, tokens), torch.ones(2, frames, dtype=torch.bool))
    assert prediction.shape == _output_shape(head, 2, frames)
    assert head.decode(prediction).shape == (2, frames, CHUNK, ACTION_DIM)


@pytest.mark.parametrize("name", HEADS)
def test_wrong_token_count_is_a_clear_error(name: str) -> None:
    with pytest.raises(ValueError, match=r"\(batch, frames, 2, 12\).*\(2, 4, 1, 12\)"):
        build(name, tokens=2)(features(2, 4, tokens=1), torch.ones(2, 4, dtype=torch.bool))


@pytest.mark.parametrize("name", HEADS)
def test_gradients_reach_every_parameter(name: str) -> None:
    head = build(name, tokens=2).train()
    mask = torch.ones(2, HISTORY, CHUNK, dtype=torch.bool)
    head.loss(head(features(2, HISTORY, 2), mask[..., 0]), actions(2, HISTORY), mask)["loss"].backward()
    starved = [n for n, p in head.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not starved


@pytest.mark.parametrize("name", HEADS)
def test_loss_ignores_masked_steps(name: str) -> None:
    head = build(name)
    prediction = head(features(3, HISTORY), torch.ones(3, HISTORY, dtype=torch.bool))
    targets = actions(3, HISTORY)
    action_mask = torch.rand(3, HISTORY, CHUNK, generator=torch.Generator().manual_seed(3)) > 0.4
    other = torch.where(action_mask[..., None], targets, actions(3, HISTORY, seed=4))
    changed_real = torch.where(action_mask[..., None], actions(3, HISTORY, seed=4), targets)

    base = head.loss(prediction, targets, action_mask)["loss"]
    assert torch.allclose(head.loss(prediction, other, action_mask)["loss"], base)
    assert not torch.allclose(head.loss(prediction, changed_real, action_mask)["loss"], base)


@pytest.mark.parametrize("name", HEADS)
def test_overfits_a_small_batch(name: str) -> None:
    head = build(name).train()
    inputs, targets = features(4, HISTORY), actions(4, HISTORY)
    frame_mask = torch.ones(4, HISTORY, dtype=torch.bool)
    action_mask = torch.ones(4, HISTORY, CHUNK, dtype=torch.bool)
    optimizer = torch.optim.Adam(head.parameters(), lr=3e-3)
    losses = []
    for _ in range(200):
        loss = head.loss(head(inputs, frame_mask), targets, action_mask)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] <= 0.1 * losses[0], f"loss went from {losses[0]:.4f} to {losses[-1]:.4f}"


@pytest.mark.parametrize("name", ["mlp", "lstm", "gpt"])
def test_continuous_decode(name: str) -> None:
    head = build(name).eval()
    with torch.no_grad():
        prediction = head(10 * features(2, HISTORY), torch.ones(2, HISTORY, dtype=torch.bool))
    decoded = head.decode(prediction)
    assert torch.equal(decoded[..., :-1], prediction[..., :-1])
    assert ((decoded[..., -1] >= 0) & (decoded[..., -1] <= 1)).all()
    assert torch.equal(decoded[..., -1] > 0.5, prediction[..., -1] > 0)
