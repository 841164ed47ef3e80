"""The ``flow`` head: action chunks by flow matching, as pi0, SmolVLA and GR00T generate them.

A regression head predicts the mean of the demonstrations it saw for a situation: when the expert
went around an obstacle on the left half the time and on the right the other half, the mean goes
through the obstacle. A flow-matching head instead learns a velocity field that carries Gaussian
noise to the demonstrations' distribution, and sampling follows it, so each sample is one of the
modes.

Training (pi0's convention): for a chunk of normalized actions ``a`` and noise ``e``, the point
``x_t = t * e + (1 - t) * a`` moves with velocity ``e - a``; the network ``v(context, x_t, t)``
regresses that velocity at a time ``t`` drawn from Beta(1.5, 1) (``action_head.time_sampling``:
``beta``, or ``uniform``). Decoding starts from noise at ``t = 1`` and takes
``action_head.num_inference_steps`` Euler steps to ``t = 0``. The context of a frame is a causal LSTM
over the window's action-token features, so the head serves every history mode (one frame in
``one_step``) and a frame never sees a later one. The gripper is regressed as +1 (open) or -1 and
decoded to a probability of open, ``(x + 1) / 2``.
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
from torch import nn

from robovlms.config import ActionHeadConfig, HistoryMode
from robovlms.model.action_head import BaseActionHead, HeadSpec
from robovlms_action_heads.layers import frame_inputs, mlp_trunk, run_recurrent, token_input_size

#: sinusoidal features of the flow time t fed to the velocity network
TIME_FEATURES = 32
#: pi0 keeps t away from 0, where x_t is the action itself and the velocity is left to the noise
MIN_TIME = 0.001


def time_features(t: torch.Tensor) -> torch.Tensor:
    """``(...,)`` times in [0, 1] to ``(..., TIME_FEATURES)`` sines and cosines of geometric frequencies."""
    half = TIME_FEATURES // 2
    frequencies = torch.exp(torch.arange(half, device=t.device, dtype=t.dtype) * (-math.log(1000.0) / half))
    angles = t.unsqueeze(-1) * frequencies * 1000.0
    return torch.cat([angles.sin(), angles.cos()], dim=-1)


class FlowHead(BaseActionHead):
    """A causal LSTM over the window gives each frame a context; a velocity MLP turns noise into its chunk.

    ``forward`` returns the context ``(B, T, hidden_size)``; ``loss`` and ``decode`` run the flow.
    """

    name: ClassVar[str] = "flow"
    history_modes: ClassVar[tuple[HistoryMode, ...]] = ("one_step", "interleaved", "policy_head")
    stochastic: ClassVar[bool] = True

    def __init__(self, config: ActionHeadConfig, spec: HeadSpec) -> None:
        super().__init__(config, spec)
        self.context = nn.LSTM(token_input_size(spec), config.hidden_size, batch_first=True)
        self.dropout = nn.Dropout(config.dropout)
        self.chunk_shape = (spec.chunk_size, spec.action_dim)
        width = spec.chunk_size * spec.action_dim
        self.velocity = nn.Sequential(
            mlp_trunk(config.hidden_size + width + TIME_FEATURES, config), nn.Linear(config.hidden_size, width)
        )

    def forward(self, features: torch.Tensor, frame_mask: torch.Tensor) -> torch.Tensor:
        """Forward in time, and padding frames only follow real ones: neither reaches a real frame."""
        hidden = run_recurrent(self.context, frame_inputs(features, self.spec))
        return self.dropout(hidden)

    def velocity_at(self, context: torch.Tensor, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """The learned velocity ``(..., chunk, action_dim)`` of the chunk ``x`` at time ``t`` ``(...,)``."""
        inputs = torch.cat([context, x.flatten(-2), time_features(t).to(context.dtype)], dim=-1)
        return self.velocity(inputs).unflatten(-1, self.chunk_shape)

    def _times(self, shape: torch.Size, like: torch.Tensor) -> torch.Tensor:
        if self.config.time_sampling == "uniform":
            t = torch.rand(shape, device=like.device)
        else:
            beta = torch.distributions.Beta(
                torch.tensor(1.5, device=like.device), torch.tensor(1.0, device=like.device)
            )
            t = beta.sample(shape)
        return (t * (1 - MIN_TIME) + MIN_TIME).to(like.dtype)

    def loss(
        self, prediction: torch.Tensor, actions: torch.Tensor, action_mask: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """The velocity's squared error at one random time per frame, over the real chunk steps.

        Steps past an episode's end are zeroed before noise is added, so they inform nothing.
        """
        gripper = torch.where(actions[..., -1:] > 0, 1.0, -1.0).to(actions.dtype)
        target = torch.cat([actions[..., :-1], gripper], dim=-1) * action_mask.unsqueeze(-1)
        noise = torch.randn_like(target)
        t = self._times(target.shape[:2], target)
        x_t = t[..., None, None] * noise + (1 - t[..., None, None]) * target
        error = (self.velocity_at(prediction, x_t, t) - (noise - target)).pow(2).mean(dim=-1)
        mask = action_mask.to(error.dtype)
        loss = (error * mask).sum() / mask.sum().clamp(min=1)
        return {"loss": loss, "flow_loss": loss}

    def decode(self, prediction: torch.Tensor, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """Euler steps from noise (drawn from ``generator``) at t = 1 to a chunk at t = 0, per frame."""
        shape = (*prediction.shape[:-1], *self.chunk_shape)
        x = torch.randn(shape, generator=generator, device=prediction.device, dtype=prediction.dtype)
        steps = self.config.num_inference_steps
        for step in range(steps):
            t = torch.full(prediction.shape[:-1], 1.0 - step / steps, device=x.device, dtype=x.dtype)
            x = x - self.velocity_at(prediction, x, t) / steps
        opened = ((x[..., -1:] + 1) / 2).clamp(0, 1)
        return torch.cat([x[..., :-1], opened], dim=-1)
