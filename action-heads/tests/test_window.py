"""The window heads fuse the window causally (masking and shapes: the standard suite, test_conformance.py)."""

from __future__ import annotations

import pytest
import torch
from heads_helpers import HISTORY, WINDOW_HEADS, build, features, padded_mask


def _run(name: str, inputs: torch.Tensor, frame_mask: torch.Tensor) -> torch.Tensor:
    head = build(name).eval()
    with torch.no_grad():
        return head(inputs, frame_mask)


@pytest.mark.parametrize("name", WINDOW_HEADS)
def test_a_row_of_padding_only_does_not_break_the_batch(name: str) -> None:
    inputs, frame_mask = features(3, HISTORY), padded_mask(3, HISTORY, [0, 1, HISTORY])
    batched = _run(name, inputs, frame_mask)
    assert torch.isfinite(batched).all()
    real = frame_mask[:2]
    assert torch.allclose(batched[:2][real], _run(name, inputs[:2], real)[real], atol=1e-6)


@pytest.mark.parametrize("name", WINDOW_HEADS)
def test_frames_see_only_the_past(name: str) -> None:
    inputs, frame_mask = features(2, HISTORY), torch.ones(2, HISTORY, dtype=torch.bool)
    changed = inputs.clone()
    changed[:, 2] += 1.0
    before, after = _run(name, inputs, frame_mask), _run(name, changed, frame_mask)
    assert torch.allclose(before[:, :2], after[:, :2], atol=1e-6)
    assert not torch.allclose(before[:, 2:], after[:, 2:], atol=1e-3)


@pytest.mark.parametrize("name", WINDOW_HEADS)
def test_window_is_fused(name: str) -> None:
    inputs, frame_mask = features(2, HISTORY), torch.ones(2, HISTORY, dtype=torch.bool)
    changed = inputs.clone()
    changed[:, 0] += 1.0
    assert not torch.allclose(_run(name, inputs, frame_mask)[:, -1], _run(name, changed, frame_mask)[:, -1], atol=1e-3)


@pytest.mark.parametrize("name", WINDOW_HEADS)
def test_inference_matches_training_mode(name: str) -> None:
    inputs, frame_mask = features(3, HISTORY), padded_mask(3, HISTORY, [0, 1, 3])
    trained = build(name).train()(inputs, frame_mask)
    assert torch.allclose(_run(name, inputs, frame_mask)[frame_mask], trained[frame_mask].detach(), atol=1e-5)


def test_gpt_refuses_windows_longer_than_its_positions() -> None:
    with pytest.raises(ValueError, match=r"exceeds model\.history_length"):
        build("gpt")(features(1, HISTORY + 1), torch.ones(1, HISTORY + 1, dtype=torch.bool))


def test_gpt_needs_hidden_size_divisible_by_heads() -> None:
    with pytest.raises(ValueError, match=r"hidden_size \(30\) must be divisible by action_head.num_heads \(4\)"):
        build("gpt", hidden_size=30)
