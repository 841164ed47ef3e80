"""Action normalisation: arm values to [-1, 1] by statistics of the training data, and back.

Heads are trained on normalized targets, so one learning rate and one loss scale fit every robot.
The statistics travel with the model (``normalization.json``) so that inference undoes exactly
what training applied, with a note of where they came from (``statistics``: computed from the
data, or the dataset's ``stats.json``, and which dataset). The gripper (the last dimension) is a
binary open/close signal and is not normalized: positive means open.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from robovlms.errors import CheckpointError


def action_statistics(actions: np.ndarray) -> dict[str, list[float]]:
    """Per-dimension min, max, mean, std and the 1st/99th percentiles of ``(N, action_dim)`` actions."""
    actions = np.asarray(actions, dtype=np.float64).reshape(-1, np.shape(actions)[-1])
    return {
        "min": actions.min(0).tolist(),
        "max": actions.max(0).tolist(),
        "mean": actions.mean(0).tolist(),
        "std": actions.std(0).tolist(),
        "q01": np.quantile(actions, 0.01, axis=0).tolist(),
        "q99": np.quantile(actions, 0.99, axis=0).tolist(),
    }


class ActionNormalizer:
    """Maps arm values between their data range (``low``, ``high``) and [-1, 1]."""

    def __init__(
        self,
        low: list[float],
        high: list[float],
        *,
        clip: bool = True,
        mode: str = "quantile",
        provenance: dict[str, str] | None = None,
    ) -> None:
        self.low = torch.tensor(low, dtype=torch.float32)
        self.high = torch.tensor(high, dtype=torch.float32)
        self.clip = clip
        self.mode = mode
        #: where the statistics came from (``source``: computed or stats.json; ``dataset``), when known
        self.provenance = provenance

    @classmethod
    def identity(cls, action_dim: int, *, clip: bool = True) -> ActionNormalizer:
        """Arm values taken as already in [-1, 1] (for a model not yet fitted to data)."""
        return cls([-1.0] * (action_dim - 1), [1.0] * (action_dim - 1), clip=clip, mode="none")

    @classmethod
    def from_statistics(
        cls,
        stats: dict[str, Any],
        mode: str = "quantile",
        *,
        clip: bool = True,
        provenance: dict[str, str] | None = None,
    ) -> ActionNormalizer:
        """Use ``q01``/``q99`` (``quantile``, ``quantile_dataset``) or ``min``/``max`` (``minmax``) of
        every arm dimension."""
        if mode == "none":
            return cls.identity(len(stats["min"]), clip=clip)
        low_key, high_key = ("q01", "q99") if mode.startswith("quantile") else ("min", "max")
        return cls(list(stats[low_key])[:-1], list(stats[high_key])[:-1], clip=clip, mode=mode, provenance=provenance)

    def _span(self, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        low, high = self.low.to(like), self.high.to(like)
        return low, (high - low).clamp(min=1e-6)

    def normalize(self, actions: torch.Tensor) -> torch.Tensor:
        low, span = self._span(actions)
        arm = 2 * (actions[..., :-1] - low) / span - 1
        if self.clip:
            arm = arm.clamp(-1, 1)
        return torch.cat([arm, actions[..., -1:]], dim=-1)

    def denormalize(self, normalized: torch.Tensor) -> torch.Tensor:
        arm = normalized[..., :-1].clamp(-1, 1) if self.clip else normalized[..., :-1]
        low, span = self._span(normalized)
        return torch.cat([(arm + 1) / 2 * span + low, normalized[..., -1:]], dim=-1)

    def to_dict(self) -> dict[str, Any]:
        saved = {"mode": self.mode, "clip": self.clip, "low": self.low.tolist(), "high": self.high.tolist()}
        return {**saved, "statistics": self.provenance} if self.provenance else saved

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), indent=2))

    @classmethod
    def load(cls, path: Path, action_dim: int) -> ActionNormalizer:
        try:
            data = json.loads(path.read_text())
            provenance = data.get("statistics")
            if provenance is not None and not isinstance(provenance, dict):
                raise TypeError(f"statistics must be an object, got {type(provenance).__name__}")
            normalizer = cls(
                data["low"], data["high"], clip=bool(data["clip"]), mode=str(data["mode"]), provenance=provenance
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CheckpointError(f"{path}: unreadable normalisation statistics ({exc})") from None
        if not (torch.isfinite(normalizer.low).all() and torch.isfinite(normalizer.high).all()):
            raise CheckpointError(f"{path}: normalisation statistics hold NaN or infinity; the model cannot act")
        if len(normalizer.low) != action_dim - 1 or len(normalizer.high) != action_dim - 1:
            raise CheckpointError(
                f"{path}: statistics for {len(normalizer.low)} arm values, the model has {action_dim - 1}"
            )
        return normalizer
