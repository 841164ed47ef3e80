"""Training samples: windows of frames with the chunk of actions that follows each frame.

A sample starts at any frame ``t`` of an episode and holds frames ``t .. t+T-1``; for each of
those frames, its next ``C`` actions. Windows and chunks that run past the episode's end are
padded (the last frame and state repeated, zero actions) and masked, so every frame of every episode is
trained on, the end of an episode included. A sample's instruction is the task of its newest real
frame: LeRobot lets the task change inside an episode, and a window after the change is about the
new one. A sample's ``images`` are the frames of its one camera, or with several cameras a dict
of them by camera. :func:`collate` batches samples into exactly the keyword arguments of
:meth:`robovlms.model.vla.VLA.forward`.

Actions are loaded for all episodes up front (they are small); images are decoded per episode on
first use and kept, bounded by ``cache_mb``, so after the first epoch a sample costs a few
array copies.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from robovlms.config import Config
from robovlms.datasets.lerobot import DatasetError, EpisodeMeta, LeRobotDataset
from robovlms.datasets.statistics import feature_stats, finite_column, source_of

Sample = dict[str, Any]


class WindowDataset(Dataset):
    """One sample per frame of the chosen episodes (all when ``episodes`` is None)."""

    def __init__(
        self,
        dataset: LeRobotDataset,
        history_length: int,
        action_chunk_size: int,
        *,
        episodes: Sequence[int] | None = None,
        image_keys: str | Sequence[str] = "observation.image",
        action_key: str = "action",
        state_key: str | None = None,
        cache_mb: float = 1024.0,
    ) -> None:
        if history_length < 1 or action_chunk_size < 1:
            raise DatasetError(
                f"windows need history_length and action_chunk_size >= 1, got {history_length}, {action_chunk_size}"
            )
        self.image_keys = [image_keys] if isinstance(image_keys, str) else list(image_keys)
        for key in self.image_keys:
            dataset.require(key, "data.image_keys", visual=True)
        dataset.require(action_key, "data.action_key")
        self.dataset = dataset
        self.history_length = history_length
        self.chunk = action_chunk_size
        chosen = range(len(dataset.episodes)) if episodes is None else episodes
        self.episodes: list[EpisodeMeta] = [dataset.episodes[i] for i in chosen]
        self.tasks = dataset.tasks
        self.frame_tasks = [dataset.frame_tasks(e) for e in self.episodes]
        # each episode's actions and one zero row after them, the target of chunk steps past its end
        self.actions = [_zero_row_after(finite_column(dataset, e, action_key)) for e in self.episodes]
        self.states = None
        if state_key is not None:
            dataset.require(state_key, "data.state_key")
            self.states = [finite_column(dataset, e, state_key) for e in self.episodes]
        self._starts = np.cumsum([0] + [e.length for e in self.episodes])
        self._images: OrderedDict[int, dict[str, np.ndarray]] = OrderedDict()
        self._cache_bytes = 0
        self._cache_limit = cache_mb * 1024 * 1024

    def __len__(self) -> int:
        return int(self._starts[-1])

    def _frames(self, position: int) -> dict[str, np.ndarray]:
        """Every camera's frames of one episode, by camera."""
        if position in self._images:
            self._images.move_to_end(position)
            return self._images[position]
        frames = {key: self.dataset.frames(self.episodes[position], key) for key in self.image_keys}
        self._images[position] = frames
        self._cache_bytes += sum(f.nbytes for f in frames.values())
        while self._cache_bytes > self._cache_limit and len(self._images) > 1:
            self._cache_bytes -= sum(f.nbytes for f in self._images.popitem(last=False)[1].values())
        return frames

    def __getitem__(self, item: int) -> Sample:
        if not 0 <= item < len(self):
            raise IndexError(f"window {item} of {len(self)}")
        position = int(np.searchsorted(self._starts, item, side="right")) - 1
        t = item - int(self._starts[position])
        padded = self.actions[position]
        length = len(padded) - 1
        steps = t + np.arange(self.history_length)
        frame_mask = steps < length
        targets = steps[:, None] + np.arange(self.chunk)[None, :]  # (T, C) frame index of each action
        action_mask = targets < length
        frames = np.minimum(steps, length - 1)
        images = {key: episode[frames] for key, episode in self._frames(position).items()}
        sample = {
            "images": images if len(images) > 1 else images[self.image_keys[0]],
            # the newest real frame's task: where the task changes inside an episode, so does the instruction
            "instruction": self.tasks[int(self.frame_tasks[position][frames[-1]])],
            "frame_mask": frame_mask,
            "actions": padded[np.where(action_mask, targets, length)],
            "action_mask": action_mask,
        }
        if self.states is not None:
            sample["states"] = self.states[position][frames]
        return sample


def _zero_row_after(actions: np.ndarray) -> np.ndarray:
    return np.concatenate([actions, np.zeros((1, actions.shape[1]), dtype=actions.dtype)])


def collate(samples: list[Sample]) -> dict[str, Any]:
    """Stack samples into the keyword arguments of ``VLA.forward``."""
    first = samples[0]["images"]
    images: Any = (
        {key: torch.from_numpy(np.stack([s["images"][key] for s in samples])) for key in first}
        if isinstance(first, dict)
        else torch.from_numpy(np.stack([s["images"] for s in samples]))
    )
    batch = {
        "images": images,
        "instructions": [s["instruction"] for s in samples],
        "frame_mask": torch.from_numpy(np.stack([s["frame_mask"] for s in samples])),
        "actions": torch.from_numpy(np.stack([s["actions"] for s in samples])),
        "action_mask": torch.from_numpy(np.stack([s["action_mask"] for s in samples])),
    }
    if "states" in samples[0]:
        batch["states"] = torch.from_numpy(np.stack([s["states"] for s in samples]))
    return batch


def split_episodes(count: int, validation_split: float, seed: int) -> tuple[list[int], list[int]]:
    """Episode positions for training and validation: whole episodes, so no frame leaks across."""
    order = np.random.default_rng(seed).permutation(count)
    held = min(count - 1, max(1, round(count * validation_split))) if validation_split > 0 else 0
    return sorted(order[held:].tolist()), sorted(order[:held].tolist())


@dataclass(frozen=True)
class TrainingData:
    """What a trainer needs from the data: both splits, the action (and state) statistics, and the batching."""

    train: WindowDataset
    validation: WindowDataset | None
    statistics: dict[str, list[float]]
    state_statistics: dict[str, list[float]] | None = None
    #: where the statistics come from, recorded with the model: ``source`` (computed or stats.json), ``dataset``
    provenance: dict[str, str] | None = None
    collate = staticmethod(collate)


def _require_vector(dataset: LeRobotDataset, what: str, key: str, length: int | None) -> None:
    """The dataset has feature ``key`` (named by ``data.{what}_key``) of the model's ``{what}_dim``."""
    dataset.require(key, f"data.{what}_key")
    shape = list(dataset.features[key]["shape"])
    if shape != [length]:
        raise DatasetError(f"data.{what}_key: feature {key!r} has shape {shape}, model.{what}_dim is {length}")


def open_training_data(config: Config, *, cache_mb: float = 1024.0) -> TrainingData:
    """Training and validation windows and action statistics for ``config.data`` and ``config.model``."""
    data = config.data
    if data.path is None:
        raise DatasetError("data.path: not set; name a dataset folder in the LeRobot v3 layout")
    dataset = LeRobotDataset(data.path)
    for key in data.image_keys:
        dataset.require(key, "data.image_keys", visual=True)
    _require_vector(dataset, "action", data.action_key, config.model.action_dim)
    if data.state_key is not None:
        _require_vector(dataset, "state", data.state_key, config.model.state_dim)
    train, held = split_episodes(len(dataset.episodes), data.validation_split, config.training.seed)

    def windows(episodes: list[int]) -> WindowDataset:
        return WindowDataset(
            dataset,
            config.model.history_length,
            config.model.action_chunk_size,
            episodes=episodes,
            image_keys=data.image_keys,
            action_key=data.action_key,
            state_key=data.state_key,
            cache_mb=cache_mb,
        )

    source = source_of(config.model.action_normalization)
    return TrainingData(
        windows(train),
        windows(held) if held else None,
        feature_stats(dataset, data.action_key, source),
        feature_stats(dataset, data.state_key, source) if data.state_key is not None else None,
        {"source": source, "dataset": str(dataset.root.resolve())},
    )
