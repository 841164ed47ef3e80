"""Normalisation statistics of a feature, the same whoever wrote the dataset.

A dataset's ``meta/stats.json`` depends on its writer: LeRobot's global ``q01``/``q99`` are means
of per-episode quantiles, not quantiles of the data (on small datasets far enough off to clip
twice as many actions). So robovlms computes exact statistics from the frames themselves, once,
and caches them beside the dataset (``<dataset>.robovlms-stats.json``, keyed by the data files'
sizes and times), never inside it: a dataset folder may not be robovlms's to change.
``model.action_normalization: "quantile_dataset"`` takes the dataset's own instead.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from robovlms.datasets.lerobot import INFO_PATH, STATS_PATH, DatasetError, EpisodeMeta, LeRobotDataset
from robovlms.errors import shown
from robovlms.model.normalization import action_statistics

Statistics = dict[str, list[float]]
#: the statistics normalisation reads
KEYS = ("min", "max", "mean", "std", "q01", "q99")
#: where each ``action_normalization`` value takes its statistics from
COMPUTED, DATASET = "computed", "stats.json"


def source_of(mode: str) -> str:
    """Which statistics a ``model.action_normalization`` value uses."""
    return DATASET if mode == "quantile_dataset" else COMPUTED


def finite_column(dataset: LeRobotDataset, episode: EpisodeMeta, key: str) -> np.ndarray:
    """A numeric feature of one episode as float32, or one line naming the first frame that holds NaN or infinity."""
    values = dataset.column(episode, key).astype(np.float32)
    bad = ~np.isfinite(values.reshape(len(values), -1)).all(axis=1)
    if bad.any():
        raise DatasetError(
            f"{dataset.root / episode.data_file}: feature {key!r} of episode {episode.index} holds NaN or infinity "
            f"at frame {int(np.argmax(bad))}; a policy cannot learn from it"
        )
    return values


def feature_stats(dataset: LeRobotDataset, key: str = "action", source: str = COMPUTED) -> Statistics:
    """Statistics of feature ``key``: computed from every frame (cached), or the dataset's ``stats.json``."""
    if source == DATASET:
        return dataset_stats(dataset, key)
    cache = cache_path(dataset)
    fingerprint = _fingerprint(dataset)
    cached = _read_cache(cache, fingerprint)
    length = math.prod(dataset.features[key]["shape"])
    if not _complete(cached.get(key), length):
        values = np.concatenate([finite_column(dataset, e, key) for e in dataset.episodes])
        cached[key] = action_statistics(values)
        try:
            cache.write_text(json.dumps({"fingerprint": fingerprint, "features": cached}))
        except OSError:
            pass  # a read-only place: computed again next time, nothing else lost
    return cached[key]


def dataset_stats(dataset: LeRobotDataset, key: str) -> Statistics:
    """The statistics the dataset's writer put into ``meta/stats.json``, checked."""
    where = f"{dataset.root / STATS_PATH}: {key}"
    saved = (dataset.stats or {}).get(key)
    if not isinstance(saved, dict) or not all(k in saved for k in KEYS):
        raise DatasetError(
            f"{where} lacks {', '.join(KEYS)}; use model.action_normalization 'quantile' to compute them"
        )
    length = math.prod(dataset.features[key]["shape"])
    for k in KEYS:
        values = saved[k]
        if not isinstance(values, list) or len(values) != length:
            raise DatasetError(f"{where}.{k} must be a list of {length} numbers, got {shown(values)}")
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values):
            raise DatasetError(f"{where}.{k} holds a value that is not a finite number: {shown(values)}")
    return {k: [float(v) for v in saved[k]] for k in KEYS}


def _complete(stats: Any, length: int) -> bool:
    return isinstance(stats, dict) and all(
        isinstance(stats.get(k), list)
        and len(stats[k]) == length
        and all(isinstance(v, (int, float)) and math.isfinite(v) for v in stats[k])
        for k in KEYS
    )


def cache_path(dataset: LeRobotDataset) -> Path:
    """Beside the dataset folder, never in it."""
    root = dataset.root.resolve()
    return root.parent / f"{root.name}.robovlms-stats.json"


def _fingerprint(dataset: LeRobotDataset) -> str:
    """Changes when any data file (or info.json) is rewritten: the cache is then computed afresh."""
    files = sorted({INFO_PATH, *(e.data_file for e in dataset.episodes)})
    digest = hashlib.sha256()
    for relative in files:
        status = (dataset.root / relative).stat()
        digest.update(f"{relative}:{status.st_size}:{status.st_mtime_ns};".encode())
    return digest.hexdigest()


def _read_cache(path: Path, fingerprint: str) -> dict[str, Any]:
    try:
        cached = json.loads(path.read_text())
        if cached["fingerprint"] == fingerprint and isinstance(cached["features"], dict):
            return cached["features"]
    except (OSError, ValueError, KeyError, TypeError, RecursionError):
        pass  # absent, stale or damaged: computed again
    return {}
