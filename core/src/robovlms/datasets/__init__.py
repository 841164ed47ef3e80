"""Datasets in the LeRobot v3 layout: reading, writing, expert data, and training windows.

Importing this package does not import torch: the windows (a torch ``Dataset``) and
:func:`open_training_data` are imported on first access.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from robovlms.datasets.lerobot import CODEBASE_VERSION, DatasetError, EpisodeMeta, LeRobotDataset
from robovlms.datasets.writer import LeRobotWriter

_LAZY = {
    "TrainingData": "robovlms.datasets.windows",
    "WindowDataset": "robovlms.datasets.windows",
    "collate": "robovlms.datasets.windows",
    "open_training_data": "robovlms.datasets.windows",
}

__all__ = ["CODEBASE_VERSION", "DatasetError", "EpisodeMeta", "LeRobotDataset", "LeRobotWriter", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'robovlms.datasets' has no attribute {name!r}")
