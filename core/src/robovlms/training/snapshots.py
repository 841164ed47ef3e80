"""Resume snapshots of a training run: checkpoints that a crash mid-write cannot corrupt, and the
state that makes resume exact. (A finished model is a VLA folder, :mod:`robovlms.model.storage`.)

A snapshot is written into a hidden temporary folder and renamed into place only when complete,
so a reader never sees half of one; a failed write (disk full, no permission) removes the
temporary folder and leaves the previous checkpoints as they were. Weights are safetensors; the
optimizer and random state go through ``torch.save`` and are read back with ``weights_only``.
"""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_model, save_model

from robovlms.errors import CheckpointError, first_line

FOLDER = "checkpoints"
PREFIX = "step-"


def rng_state() -> dict[str, Any]:
    _, key, position, has_gauss, gauss = np.random.get_state(legacy=True)
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": [
            np.asarray(key).tolist(),
            int(position),
            int(has_gauss),
            float(gauss),
        ],  # plain types: weights_only loads them
        "python": list(random.getstate()[1]),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    key, position, has_gauss, gauss = state["numpy"]
    np.random.set_state(("MT19937", np.array(key, dtype=np.uint32), position, has_gauss, gauss))
    random.setstate((3, tuple(state["python"]), None))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def snapshots(run: Path) -> list[Path]:
    """Complete snapshots of a run, oldest first."""
    folder = run / FOLDER
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_dir() and p.name.startswith(PREFIX))


def remove_unfinished(run: Path) -> list[Path]:
    """Delete the temporary folders of snapshots whose writing was interrupted; return what was removed."""
    folder = run / FOLDER
    leftovers = sorted(folder.glob(f".tmp-{PREFIX}*")) if folder.is_dir() else []
    for leftover in leftovers:
        shutil.rmtree(leftover, ignore_errors=True)
    return leftovers


def save_snapshot(run: Path, step: int, model: torch.nn.Module, trainer_state: dict[str, Any], keep: int) -> Path:
    """Write the checkpoint of ``step`` atomically, then keep only the latest ``keep``."""
    final = run / FOLDER / f"{PREFIX}{step:08d}"
    temporary = run / FOLDER / f".tmp-{PREFIX}{step:08d}"
    try:
        shutil.rmtree(temporary, ignore_errors=True)
        temporary.mkdir(parents=True)
        save_model(model, str(temporary / "model.safetensors"))
        torch.save({**trainer_state, "rng": rng_state()}, temporary / "trainer_state.pt")
        if final.exists():
            shutil.rmtree(final)
        os.replace(temporary, final)
    except OSError as exc:
        shutil.rmtree(temporary, ignore_errors=True)
        reason = exc.strerror or str(exc)
        raise CheckpointError(
            f"cannot write checkpoint {final}: {reason}; the previous checkpoints are intact"
        ) from None
    for old in snapshots(run)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def load_snapshot(path: Path, model: torch.nn.Module) -> dict[str, Any]:
    """Restore weights into ``model`` and return the trainer state (optimizer, schedule, position, rng)."""
    try:
        missing, unexpected = load_model(model, str(path / "model.safetensors"), strict=False)
        state = torch.load(path / "trainer_state.pt", weights_only=True)
    except Exception as exc:  # safetensors and torch raise several types for damaged files
        raise CheckpointError(f"cannot resume from {path}: {first_line(exc)}") from None
    if missing or unexpected:
        raise CheckpointError(
            f"cannot resume from {path}: its weights do not match the model ({(missing or unexpected)[0]})"
        )
    return state
