"""What this distribution's heads promise beyond the standard suite (see test_conformance.py)."""

from __future__ import annotations

import pytest
import torch
from heads_helpers import CHUNK, HEADS, HISTORY, actions, build, features

MODES = {
    "mlp": ("one_step", "interleaved"),
    "discrete": ("one_step", "interleaved"),
    "lstm": ("policy_head",),
    "gpt": ("policy_head",),
    "flow": ("one_step", "interleaved", "policy_head"),
}


@pytest.mark.parametrize("name", HEADS)
def test_history_modes_and_reason(name: str) -> None:
    head = build(name)
    assert head.history_modes == MODES[name]
    assert head.mode_reason or len(head.history_modes) == 3, "a head that refuses a mode says why"


@pytest.mark.parametrize("name", HEADS)
def test_wrong_token_count_is_a_clear_error(name: str) -> None:
    with pytest.raises(ValueError, match=r"\(batch, frames, 2, 12\).*\(2, 4, 1, 12\)"):
        build(name, tokens=2)(features(2, 4, tokens=1), torch.ones(2, 4, dtype=torch.bool))


@pytest.mark.parametrize("name", HEADS)
def test_trains_under_bf16_autocast_on_the_cpu(name: str) -> None:
    """training.precision bf16 on a CPU: every head steps, the recurrent ones included (oneDNN has no
    bf16 LSTM on processors without bf16 instructions, so they must not ask it for one)."""
    head = build(name).train()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = head.loss(
            head(features(2, HISTORY), torch.ones(2, HISTORY, dtype=torch.bool)),
            actions(2, HISTORY),
            torch.ones(2, HISTORY, CHUNK, dtype=torch.bool),
        )["loss"]
    loss.backward()
    assert torch.isfinite(loss)
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in head.parameters() if p.requires_grad)


# flow's loss regresses a velocity against fresh noise and never nears zero: test_flow.py checks its samples
@pytest.mark.parametrize("name", [name for name in HEADS if name != "flow"])
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
