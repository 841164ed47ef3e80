"""The robot's own state (proprioception) as an input beside the camera and the instruction.

Where the end effector is, the robot knows exactly; read from a small image it is only known to a
few pixels, and a policy that must close the gripper at the right place fails on the difference.
With ``model.state_dim`` set, each frame's state is mapped to [-1, 1] by the training data's
1st/99th percentiles and projected to the language model's width, then added to that frame's
action-token features before the head: the backbone's features, and the policy's per-frame
cache of them, stay the same whether or not a state is used. The percentiles are buffers, so
they travel in the VLA's safetensors with the projection that was trained on them.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from robovlms.errors import InputError


class StateEncoder(nn.Module):
    """``(..., state_dim)`` robot states to ``(..., hidden_size)`` features."""

    low: torch.Tensor
    high: torch.Tensor

    def __init__(self, state_dim: int, hidden_size: int) -> None:
        super().__init__()
        self.state_dim = state_dim
        self.register_buffer("low", -torch.ones(state_dim))
        self.register_buffer("high", torch.ones(state_dim))
        self.projection = nn.Linear(state_dim, hidden_size)

    @torch.no_grad()
    def fit(self, statistics: dict[str, Any]) -> None:
        """Take the range of each state value from the training data's ``q01``/``q99``."""
        self.low.copy_(torch.as_tensor(statistics["q01"], dtype=self.low.dtype))
        self.high.copy_(torch.as_tensor(statistics["q99"], dtype=self.high.dtype))

    def forward(self, states: torch.Tensor) -> torch.Tensor:
        span = self.high - self.low
        span = torch.where(span > 1e-6, span, 2.0)  # a value constant in the data maps near -1, not to infinity
        normalized = 2 * (states.to(self.low.dtype) - self.low) / span - 1
        return self.projection(normalized.clamp(-5, 5).to(self.projection.weight.dtype))

    def check(self, states: Any, leading: tuple[int, ...], name: str = "states") -> torch.Tensor:
        """``states`` as a float tensor of shape ``leading + (state_dim,)``, or a one-line error about ``name``."""
        shape = (*leading, self.state_dim)
        if states is None:
            raise InputError(
                f"{name}: this model takes the robot state (model.state_dim is {self.state_dim}); "
                f"pass states of shape {shape}"
            )
        try:
            states = torch.as_tensor(states, dtype=torch.float32, device=self.low.device)
        except (TypeError, ValueError) as exc:
            raise InputError(f"{name}: expected numbers of shape {shape} ({exc})") from None
        if tuple(states.shape) != shape:
            raise InputError(f"{name}: expected shape {shape}, got {tuple(states.shape)}")
        if not torch.isfinite(states).all():
            raise InputError(f"{name}: expected finite values, got NaN or infinity")
        return states
