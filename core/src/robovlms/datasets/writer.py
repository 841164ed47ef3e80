"""Writing datasets in the LeRobot v3 layout, one episode at a time.

Episodes are buffered until a data file reaches ``file_size_mb`` (LeRobot's own rule, so files
hold many episodes), then written; the metadata (info, stats, tasks, episodes) is written on
:meth:`LeRobotWriter.close`, so a folder without ``meta/info.json`` is an unfinished write.
Images go into the parquet files as PNG (LeRobot's image feature); video features go to mp4.

The metadata has every column LeRobot v3 writes, so that LeRobot itself can append episodes to
a robovlms dataset and merge it with others: each episode's row carries ``stats/<feature>/<stat>``
for every feature (``min``, ``max``, ``mean``, ``std``, ``count`` and the quantiles ``q01`` to
``q99``; per channel in [0, 1], shaped ``(3, 1, 1)``, for images and videos), and
``meta/stats.json`` holds the statistics over the whole dataset: exact for numeric features, and
for frames the per-episode ones aggregated as LeRobot aggregates them.
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from robovlms.datasets.lerobot import (
    CHUNKS_SIZE,
    CODEBASE_VERSION,
    DATA_PATH,
    DEFAULT_FEATURES,
    EPISODES_PATH,
    INFO_PATH,
    STATS_PATH,
    TASKS_PATH,
    VIDEO_PATH,
    VISUAL,
)
from robovlms.datasets.video import VideoEncoder, require_av, video_info
from robovlms.errors import DatasetError

_MB = 1024 * 1024


class LeRobotWriter:
    """``add_episode`` for each episode, then ``close`` (or use it as a context manager)."""

    def __init__(
        self,
        root: str | Path,
        features: dict[str, dict[str, Any]],
        fps: int,
        *,
        robot_type: str | None = None,
        file_size_mb: float = 100.0,
    ) -> None:
        self.root = Path(root)
        if self.root.exists() and (not self.root.is_dir() or any(self.root.iterdir())):
            raise DatasetError(f"{self.root}: already exists and is not empty; choose a new folder")
        clash = set(features) & set(DEFAULT_FEATURES)
        if clash:
            raise DatasetError(f"features: {', '.join(sorted(clash))} are written by the writer itself")
        self.fps = fps
        self.robot_type = robot_type
        self.file_size_mb = file_size_mb
        self.features = {name: dict(f, shape=list(f["shape"])) for name, f in features.items()}
        self.video_keys = [n for n, f in self.features.items() if f["dtype"] == "video"]
        if self.video_keys:
            require_av()  # fail now, not after the first episode was recorded
            for key in self.video_keys:
                height, width, _ = self.features[key]["shape"]
                self.features[key]["info"] = video_info(fps, height, width)
        self.tasks: dict[str, int] = {}
        self.episodes: list[dict[str, Any]] = []
        self.frames = 0
        self._file = 0  # running file number; chunk and file index derive from it
        self._rows: dict[str, list[Any]] = {}
        self._bytes = 0
        self._videos: dict[str, Any] = {}
        self._all = {**self.features, **DEFAULT_FEATURES}
        self._stats: dict[str, _Stats | _ImageStats] = {
            name: _ImageStats() if f["dtype"] in VISUAL else _Stats() for name, f in self._all.items()
        }

    def __enter__(self) -> LeRobotWriter:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if kind is None:
            self.close()

    def _where(self) -> dict[str, int]:
        return {"chunk_index": self._file // CHUNKS_SIZE, "file_index": self._file % CHUNKS_SIZE}

    def add_episode(self, task: str, frames: dict[str, np.ndarray]) -> None:
        """Append one episode: ``frames`` maps every feature to an array of ``(length, *shape)``."""
        if set(frames) != set(self.features):
            raise DatasetError(
                f"episode {len(self.episodes)}: features {sorted(frames)} "
                f"differ from the declared {sorted(self.features)}"
            )
        length = len(next(iter(frames.values())))
        for name, values in frames.items():
            shape = (length, *self.features[name]["shape"])
            if np.shape(values) != shape:
                raise DatasetError(
                    f"episode {len(self.episodes)}: {name!r} has shape {np.shape(values)}, expected {shape}"
                )
        if length == 0:
            raise DatasetError(f"episode {len(self.episodes)}: has no frames")
        task_index = self.tasks.setdefault(task, len(self.tasks))
        where = self._where()
        episode: dict[str, Any] = {
            "episode_index": len(self.episodes),
            "tasks": [task],
            "length": length,
            "data/chunk_index": where["chunk_index"],
            "data/file_index": where["file_index"],
            "dataset_from_index": self.frames,
            "dataset_to_index": self.frames + length,
        }
        columns = {
            "timestamp": np.arange(length, dtype=np.float32) / self.fps,
            "frame_index": np.arange(length, dtype=np.int64),
            "episode_index": np.full(length, len(self.episodes), dtype=np.int64),
            "index": np.arange(self.frames, self.frames + length, dtype=np.int64),
            "task_index": np.full(length, task_index, dtype=np.int64),
        }
        for name, values in [*frames.items(), *columns.items()]:
            dtype = self._all[name]["dtype"]
            values = np.asarray(values)
            for stat, value in self._stats[name].add(values).items():
                episode[f"stats/{name}/{stat}"] = value
            if dtype == "video":
                episode.update(self._add_video(name, values))
                continue
            if dtype == "image":
                cells: Any = [_encode_png(image) for image in values]
                self._bytes += sum(len(c["bytes"]) for c in cells)
            else:
                cells = values.astype(dtype)
                self._bytes += cells.nbytes
            self._rows.setdefault(name, []).append(cells)
        episode["meta/episodes/chunk_index"] = 0
        episode["meta/episodes/file_index"] = 0
        self.episodes.append(episode)
        self.frames += length
        if self._bytes >= self.file_size_mb * _MB:
            self._flush()

    def _add_video(self, name: str, images: np.ndarray) -> dict[str, Any]:
        where = self._where()
        if name not in self._videos:
            path = self.root / VIDEO_PATH.format(video_key=name, **where)
            self._videos[name] = VideoEncoder(path, self.fps, *images.shape[1:3])
        start = self._videos[name].add(images)
        prefix = f"videos/{name}/"
        return {
            prefix + "chunk_index": where["chunk_index"],
            prefix + "file_index": where["file_index"],
            prefix + "from_timestamp": start,
            prefix + "to_timestamp": start + len(images) / self.fps,
        }

    def _flush(self) -> None:
        """Write the buffered episodes as one data file (and close their video files)."""
        if not self._rows:
            return
        arrays = {}
        for name, parts in self._rows.items():
            feature = self._all[name]
            if feature["dtype"] == "image":
                arrays[name] = pa.array([c for part in parts for c in part], type=IMAGE_TYPE)
            else:
                arrays[name] = _numeric(np.concatenate(parts), feature["shape"])
        path = self.root / DATA_PATH.format(**self._where())
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.table(arrays), path)
        for encoder in self._videos.values():
            encoder.close()
        self._rows, self._videos, self._bytes = {}, {}, 0
        self._file += 1

    def close(self) -> dict[str, Any]:
        """Write the last data file and all metadata; return the ``info.json`` contents."""
        if not self.episodes:
            raise DatasetError(f"{self.root}: no episodes were added")
        self._flush()
        meta = self.root / "meta"
        meta.mkdir(parents=True, exist_ok=True)
        tasks = pa.table({"task_index": pa.array(list(self.tasks.values()), pa.int64()), "task": list(self.tasks)})
        pq.write_table(tasks.replace_schema_metadata(_pandas_index("task", "task_index")), self.root / TASKS_PATH)
        episodes = self.root / EPISODES_PATH.format(chunk_index=0, file_index=0)
        episodes.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pylist(self.episodes), episodes)
        stats = {name: s.result() for name, s in self._stats.items()}
        (self.root / STATS_PATH).write_text(json.dumps(stats, indent=4))
        info = {
            "codebase_version": CODEBASE_VERSION,
            "robot_type": self.robot_type,
            "total_episodes": len(self.episodes),
            "total_frames": self.frames,
            "total_tasks": len(self.tasks),
            "chunks_size": CHUNKS_SIZE,
            "data_files_size_in_mb": self.file_size_mb,
            "video_files_size_in_mb": self.file_size_mb,
            "fps": self.fps,
            "splits": {"train": f"0:{len(self.episodes)}"},
            "data_path": DATA_PATH,
            "video_path": VIDEO_PATH if self.video_keys else None,
            "features": self._all,
        }
        (self.root / INFO_PATH).write_text(json.dumps(info, indent=4))
        return info


#: the Arrow type of LeRobot's (Hugging Face datasets') image feature
IMAGE_TYPE = pa.struct([("bytes", pa.binary()), ("path", pa.string())])


def _encode_png(image: np.ndarray) -> dict[str, Any]:
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(image, dtype=np.uint8)).save(buffer, format="PNG", compress_level=1)
    return {"bytes": buffer.getvalue(), "path": None}


def _numeric(values: np.ndarray, shape: list[int]) -> pa.Array:
    """Scalars for shape ``[1]`` (as LeRobot's Value), fixed-size lists otherwise (its Sequence)."""
    if list(shape) == [1]:
        return pa.array(values.reshape(-1))
    return pa.FixedSizeListArray.from_arrays(pa.array(values.reshape(-1)), math.prod(shape))


def _pandas_index(index: str, column: str) -> dict[bytes, bytes]:
    """The pandas metadata that makes ``pd.read_parquet`` show the task text as the index, as LeRobot expects."""
    columns = [
        {"name": column, "field_name": column, "pandas_type": "int64", "numpy_type": "int64", "metadata": None},
        {"name": index, "field_name": index, "pandas_type": "unicode", "numpy_type": "object", "metadata": None},
    ]
    pandas = {"index_columns": [index], "column_indexes": [], "columns": columns, "pandas_version": "2.2.0"}
    return {b"pandas": json.dumps(pandas).encode()}


#: the quantiles LeRobot keeps for every feature, per episode and over the dataset
QUANTILES = {"q01": 0.01, "q10": 0.10, "q50": 0.50, "q90": 0.90, "q99": 0.99}
#: frames of an episode that image statistics look at, spread evenly (LeRobot samples at least 100)
_IMAGE_SAMPLES = 100


def _summary(values: np.ndarray, axis: int | tuple[int, ...]) -> dict[str, np.ndarray]:
    """Min, max, mean, std and the quantiles of ``values`` over ``axis``."""
    stats = {"min": values.min(axis), "max": values.max(axis), "mean": values.mean(axis), "std": values.std(axis)}
    return {**stats, **{name: np.quantile(values, q, axis=axis) for name, q in QUANTILES.items()}}


class _Stats:
    """Statistics of a numeric feature: per episode, and exact over every frame of the dataset."""

    def __init__(self) -> None:
        self.parts: list[np.ndarray] = []
        self.shape: tuple[int, ...] = ()

    def add(self, values: np.ndarray) -> dict[str, list[Any]]:
        """Take one episode's ``(length, *shape)`` values; return its statistics."""
        self.shape = values.shape[1:] or (1,)
        self.parts.append(values.reshape(len(values), -1).astype(np.float64))
        return self._result(self.parts[-1])

    def result(self) -> dict[str, list[Any]]:
        return self._result(np.concatenate(self.parts))

    def _result(self, values: np.ndarray) -> dict[str, list[Any]]:
        stats = {k: v.reshape(self.shape).tolist() for k, v in _summary(values, 0).items()}
        return {**stats, "count": [len(values)]}


class _ImageStats:
    """Per-channel statistics of frames in [0, 1], shaped ``(3, 1, 1)`` as LeRobot's: per episode from
    up to 100 of its frames, over the dataset aggregated from the episodes' (frames are large)."""

    def __init__(self) -> None:
        self.episodes: list[dict[str, np.ndarray]] = []

    def add(self, values: np.ndarray) -> dict[str, list[Any]]:
        chosen = np.unique(np.linspace(0, len(values) - 1, min(len(values), _IMAGE_SAMPLES)).round().astype(int))
        pixels = values[chosen].reshape(-1, 3).astype(np.float64) / 255
        stats = {**_summary(pixels, 0), "count": np.array([len(chosen)])}
        self.episodes.append(stats)
        return _shaped(stats)

    def result(self) -> dict[str, list[Any]]:
        """LeRobot's aggregation: extremes of the extremes, means and quantiles weighted by frame
        count, the standard deviation pooled."""
        counts = np.array([e["count"][0] for e in self.episodes], dtype=np.float64)
        weights = counts / counts.sum()

        def weighted(key: str) -> np.ndarray:
            return np.sum([w * e[key] for w, e in zip(weights, self.episodes, strict=True)], axis=0)

        mean = weighted("mean")
        variance = np.sum(
            [w * (e["std"] ** 2 + (e["mean"] - mean) ** 2) for w, e in zip(weights, self.episodes, strict=True)],
            axis=0,
        )
        stats = {
            "min": np.min([e["min"] for e in self.episodes], axis=0),
            "max": np.max([e["max"] for e in self.episodes], axis=0),
            "mean": mean,
            "std": np.sqrt(variance),
            "count": np.array([int(counts.sum())]),
            **{name: weighted(name) for name in QUANTILES},
        }
        return _shaped(stats)


def _shaped(stats: dict[str, np.ndarray]) -> dict[str, list[Any]]:
    return {k: (v.tolist() if k == "count" else v.reshape(3, 1, 1).tolist()) for k, v in stats.items()}
