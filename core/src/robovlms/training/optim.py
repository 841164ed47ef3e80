"""AdamW with decay kept off norms and biases, and a warmup-then-cosine (or constant) schedule."""

from __future__ import annotations

import math

import torch
from torch import nn

from robovlms.config import TrainingConfig


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Decay matrices only: decaying norm gains, biases and embeddings' scale terms pulls them to zero."""
    decay: list[nn.Parameter] = []
    no_decay: list[nn.Parameter] = []
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        (no_decay if parameter.ndim < 2 or "norm" in name.lower() else decay).append(parameter)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def make_optimizer(model: nn.Module, training: TrainingConfig) -> torch.optim.Optimizer:
    return torch.optim.AdamW(parameter_groups(model, training.weight_decay), lr=training.learning_rate)


def make_scheduler(
    optimizer: torch.optim.Optimizer, training: TrainingConfig, total_steps: int
) -> torch.optim.lr_scheduler.LambdaLR:
    warmup = int(training.warmup_ratio * total_steps)
    cosine = training.lr_scheduler == "cosine"

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        if not cosine:
            return 1.0
        progress = (step - warmup) / max(1, total_steps - warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
