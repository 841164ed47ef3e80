"""Action losses shared by every head, with padded steps masked out."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    mask = mask.to(values.dtype)
    return (values * mask).sum() / mask.sum().clamp(min=1)


def continuous_action_loss(
    prediction: torch.Tensor,
    actions: torch.Tensor,
    action_mask: torch.Tensor,
    *,
    arm_loss: str = "huber",
    gripper_weight: float = 0.01,
) -> dict[str, torch.Tensor]:
    """Arm regression plus gripper binary cross-entropy; ``actions[..., -1] > 0`` means "open"."""
    regress = F.huber_loss if arm_loss == "huber" else F.mse_loss
    arm = regress(prediction[..., :-1], actions[..., :-1], reduction="none").mean(dim=-1)
    target = (actions[..., -1] > 0).to(prediction.dtype)
    gripper = F.binary_cross_entropy_with_logits(prediction[..., -1], target, reduction="none")
    arm, gripper = _masked_mean(arm, action_mask), _masked_mean(gripper, action_mask)
    return {"loss": arm + gripper_weight * gripper, "arm_loss": arm, "gripper_loss": gripper}


def discrete_action_loss(
    logits: torch.Tensor, targets: torch.Tensor, action_mask: torch.Tensor
) -> dict[str, torch.Tensor]:
    """Cross-entropy over bins: ``logits`` ``(..., action_dim, bins)``, ``targets`` ``(..., action_dim)`` bin ids."""
    ce = F.cross_entropy(logits.flatten(0, -2), targets.flatten(), reduction="none").view(targets.shape).mean(dim=-1)
    loss = _masked_mean(ce, action_mask)
    return {"loss": loss, "token_loss": loss}
