"""Sharded resume snapshots for FSDP: every rank writes its own shard, and no rank gathers the model.

Gathering a 7B model and its Adam state on rank 0 for every checkpoint costs rank 0 four times the
model's size in memory and one rank's disk bandwidth; with ``torch.distributed.checkpoint`` (DCP)
each rank writes what it holds, in parallel. The layout sits inside the ordinary snapshot folder
(``checkpoints/step-N/``) and follows its crash rule: all ranks write into the hidden temporary
folder, and only after every rank has finished (a barrier) does rank 0 add the trainer state and
rename the folder into place. A write cut off by a kill stays a temporary folder that resume deletes.

Weights and optimizer state are stored under their parameter names, not by rank, so a snapshot
written by N processes loads into M (DCP reshards on load), and into one process without FSDP.
"""

from __future__ import annotations

import os
import shutil
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
import torch.distributed.checkpoint as dcp
from torch import nn
from torch.distributed.checkpoint.state_dict import get_state_dict, set_state_dict

from robovlms.errors import CheckpointError, first_line
from robovlms.training import snapshots

SHARDS = "shards"
TRAINER_STATE = "trainer_state.pt"


def save_sharded_snapshot(
    run: Path,
    step: int,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    trainer_state: dict[str, Any],
    *,
    main: bool,
    barrier: Callable[[], None],
    keep: int,
) -> Path:
    """Every rank calls this: its shard of the weights and optimizer state, then rank 0 completes it."""
    final = run / snapshots.FOLDER / f"{snapshots.PREFIX}{step:08d}"
    temporary = run / snapshots.FOLDER / f".tmp-{snapshots.PREFIX}{step:08d}"
    if main:
        shutil.rmtree(temporary, ignore_errors=True)
        temporary.mkdir(parents=True)
    barrier()
    model_state, optimizer_state = get_state_dict(model, optimizer)
    try:  # DCP writes its metadata last, on the coordinator, once every rank has written; a failure reaches all
        with _single_process_is_intended():
            dcp.save({"model": model_state, "optimizer": optimizer_state}, checkpoint_id=temporary / SHARDS)
    except Exception as exc:  # disk full or no permission, on any rank
        if main:
            shutil.rmtree(temporary, ignore_errors=True)
        raise CheckpointError(
            f"cannot write checkpoint {final}: {first_line(exc)}; the previous checkpoints are intact"
        ) from None
    barrier()  # every shard is on disk before the snapshot becomes visible
    if main:
        torch.save({**trainer_state, "rng": snapshots.rng_state()}, temporary / TRAINER_STATE)
        if final.exists():
            shutil.rmtree(final)
        os.replace(temporary, final)
        for old in snapshots.snapshots(run)[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    barrier()
    return final


@contextmanager
def _single_process_is_intended() -> Iterator[None]:
    """Silence DCP's warning that it runs without a process group: one process is a supported way to run."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="torch.distributed is disabled", category=UserWarning)
        yield


def is_sharded(path: Path) -> bool:
    return (path / SHARDS).is_dir()


def load_sharded_snapshot(path: Path, model: nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """Restore this rank's share of the weights and optimizer state; return the trainer state.

    Every rank calls this (the load is collective under FSDP). A snapshot from a ``ddp`` run, or one
    whose files are damaged, raises a one-line :class:`CheckpointError`.
    """
    if not is_sharded(path):
        raise CheckpointError(
            f"cannot resume from {path}: it holds no sharded weights (written by ddp, or by robovlms 0.1)"
        )
    model_state, optimizer_state = get_state_dict(model, optimizer)
    try:  # DCP loads in place, into this rank's share of each tensor
        with _single_process_is_intended():
            dcp.load({"model": model_state, "optimizer": optimizer_state}, checkpoint_id=path / SHARDS)
        trainer_state = torch.load(path / TRAINER_STATE, weights_only=True)
    except Exception as exc:  # DCP wraps reader errors in several types; a damaged file is the user's case
        raise CheckpointError(f"cannot resume from {path}: {first_line(exc)}") from None
    set_state_dict(model, optimizer, model_state_dict=model_state, optim_state_dict=optimizer_state)
    return trainer_state
