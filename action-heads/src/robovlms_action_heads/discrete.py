"""The ``discrete`` head: actions as tokens of the head's own action vocabulary.

Vocabulary: every action dimension of every chunk step is one token out of ``bins`` ids
(``action_head.bins``, 256 by default). Id ``i`` stands for the interval
``[-1 + i * w, -1 + (i + 1) * w)`` of the normalized range [-1, 1], with ``w = 2 / bins``; values
outside the range fall into the edge bins. The gripper uses the same vocabulary with two ids only:
``bins - 1`` (the bin of +1) for "open" (normalized value > 0) and ``0`` (the bin of -1) for closed.

De-tokenisation: an arm id becomes its bin's center ``-1 + (i + 0.5) * w``, so the round trip errs
by at most half a bin; the gripper's probability of "open" is the summed probability of the bins
whose centers are positive.

The ids are the head's own, not the language model's: one linear classifier per (step, dimension)
reads the hidden states at the action tokens, the way the continuous heads do. Borrowing rarely
used ids of the language model's vocabulary (as RT-2 does) would tie the head to one tokenizer,
need the language model's output layer in every history mode, and decode a chunk token by token
instead of all at once.
"""

from __future__ import annotations

from typing import ClassVar

import torch

from robovlms.config import ActionHeadConfig
from robovlms.model.action_head import HeadSpec
from robovlms.model.losses import discrete_action_loss
from robovlms_action_heads.layers import PerFrameHead


def bin_centers(bins: int, device: torch.device | None = None) -> torch.Tensor:
    """The value each id de-tokenises to, ``(bins,)``."""
    return torch.linspace(-1.0, 1.0, bins + 1, device=device)[:-1] + 1.0 / bins


def tokenize(actions: torch.Tensor, bins: int) -> torch.Tensor:
    """Normalized actions ``(..., action_dim)`` to ids ``(..., action_dim)``; the last dimension is the gripper."""
    ids = ((actions[..., :-1] + 1.0) * (bins / 2.0)).floor().long().clamp(0, bins - 1)
    gripper = torch.where(actions[..., -1:] > 0, bins - 1, 0)
    return torch.cat([ids, gripper], dim=-1)


def detokenize(ids: torch.Tensor, bins: int) -> torch.Tensor:
    """Ids ``(..., action_dim)`` to bin centers; a gripper id becomes its center too, positive for "open"."""
    return bin_centers(bins, ids.device)[ids]


class DiscreteHead(PerFrameHead):
    """The per-frame MLP of the ``mlp`` head, with logits over the action vocabulary as output.

    ``forward`` returns logits ``(B, T, chunk, action_dim, bins)``.
    """

    name: ClassVar[str] = "discrete"

    def __init__(self, config: ActionHeadConfig, spec: HeadSpec) -> None:
        super().__init__(config, spec, values_per_action=config.bins)

    def loss(
        self, prediction: torch.Tensor, actions: torch.Tensor, action_mask: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """Cross-entropy of the logits against the ids of the normalized ``actions``."""
        return discrete_action_loss(prediction, tokenize(actions, self.config.bins), action_mask)

    def decode(self, prediction: torch.Tensor) -> torch.Tensor:
        """The most likely bin's center for arm values; the summed probability of positive bins for the gripper."""
        centers = bin_centers(self.config.bins, prediction.device)
        arm = centers[prediction[..., :-1, :].argmax(dim=-1)]
        opened = prediction[..., -1, :].softmax(dim=-1)[..., centers > 0].sum(dim=-1, keepdim=True)
        return torch.cat([arm.to(prediction.dtype), opened], dim=-1)
