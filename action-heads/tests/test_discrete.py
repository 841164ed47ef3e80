"""The discrete head's action vocabulary: ids, de-tokenisation and its loss."""

from __future__ import annotations

import pytest
import torch
from heads_helpers import ACTION_DIM, CHUNK, HISTORY, actions, build, features

from robovlms_action_heads.discrete import bin_centers, detokenize, tokenize


@pytest.mark.parametrize("bins", [2, 7, 256])
def test_round_trip_within_half_a_bin(bins: int) -> None:
    values = torch.cat([torch.linspace(-1, 1, 1001), torch.tensor([-1.0, 1.0, 0.0])])
    arm = torch.stack([values, values.flip(0)], dim=-1)
    ids = tokenize(torch.cat([arm, torch.ones(len(values), 1)], dim=-1), bins)
    assert ids.min() >= 0 and ids.max() <= bins - 1
    error = (detokenize(ids[:, :-1], bins) - arm).abs().max()
    assert error <= 1 / bins + 1e-6  # half of the bin width 2 / bins


def test_ids_follow_the_documented_intervals() -> None:
    arm = torch.tensor([-1.0, -0.76, -0.74, 0.0, 0.99, 1.0, -3.0, 3.0])
    ids = tokenize(torch.cat([arm, torch.zeros(1)])[None], bins=8)[0, :-1]
    assert ids.tolist() == [0, 0, 1, 4, 7, 7, 0, 7]
    assert torch.allclose(bin_centers(4), torch.tensor([-0.75, -0.25, 0.25, 0.75]))


def test_gripper_ids_are_the_bins_of_plus_and_minus_one() -> None:
    gripper = torch.tensor([[0.0, 1.0], [0.0, 0.3], [0.0, 0.0], [0.0, -1.0]])
    assert tokenize(gripper, bins=16)[:, -1].tolist() == [15, 15, 0, 0]


def test_decode_of_confident_logits_is_detokenize() -> None:
    bins = 16
    ids = tokenize(actions(2, HISTORY), bins)
    logits = 50 * torch.nn.functional.one_hot(ids, bins).float()
    decoded = build("discrete", bins=bins).decode(logits)
    assert torch.allclose(decoded[..., :-1], detokenize(ids[..., :-1], bins))
    assert torch.allclose(decoded[..., -1], (ids[..., -1] == bins - 1).float())


def test_gripper_probability_sums_the_positive_bins() -> None:
    logits = torch.zeros(1, 7, 16)
    logits[0, -1, :4] = 2.0  # more mass on closed bins
    probabilities = logits[0, -1].softmax(-1)
    decoded = build("discrete", bins=16).decode(logits)
    assert torch.isclose(decoded[0, -1], probabilities[8:].sum())
    assert 0 < decoded[0, -1] < 0.5


def test_decode_ranges() -> None:
    head = build("discrete", bins=16).eval()
    with torch.no_grad():
        decoded = head.decode(head(10 * features(2, HISTORY), torch.ones(2, HISTORY, dtype=torch.bool)))
    assert decoded[..., :-1].abs().max() <= 1 - 1 / 16 + 1e-6
    assert torch.isin(decoded[..., :-1], bin_centers(16)).all()
    assert ((decoded[..., -1] >= 0) & (decoded[..., -1] <= 1)).all()


def test_loss_is_cross_entropy_against_the_ids() -> None:
    bins, targets = 16, actions(2, HISTORY)
    mask = torch.ones(targets.shape[:-1], dtype=torch.bool)
    head = build("discrete", bins=bins)
    right = 50 * torch.nn.functional.one_hot(tokenize(targets, bins), bins).float()
    assert head.loss(right, targets, mask)["loss"] < 1e-6
    uniform = torch.zeros_like(right)
    assert torch.isclose(head.loss(uniform, targets, mask)["loss"], torch.log(torch.tensor(float(bins))))


def test_prediction_is_logits_over_the_bins() -> None:
    head = build("discrete", bins=16)
    prediction = head(features(2, HISTORY), torch.ones(2, HISTORY, dtype=torch.bool))
    assert prediction.shape == (2, HISTORY, CHUNK, ACTION_DIM, 16)
