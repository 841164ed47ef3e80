"""Reading datasets in the LeRobot v3 layout, checked against their own ``meta/info.json``.

The layout is the one the LeRobot hub datasets use (``codebase_version`` "v3.0"): several
episodes per data file, episodes located through ``meta/episodes``, tasks in
``meta/tasks.parquet``. Everything that is cheap to check (files present and readable, columns
and shapes as declared, frame counts) is checked on opening, so a broken dataset fails at once
with one line that names the file or feature, not minutes into training.
"""

from __future__ import annotations

import io
import json
import math
import re
import string
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from robovlms.datasets.video import decode, require_av
from robovlms.errors import DatasetError, first_line, shown

CODEBASE_VERSION = "v3.0"
INFO_PATH = "meta/info.json"
STATS_PATH = "meta/stats.json"
TASKS_PATH = "meta/tasks.parquet"
EPISODES_PATH = "meta/episodes/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
DATA_PATH = "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
VIDEO_PATH = "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"
CHUNKS_SIZE = 1000
#: columns every LeRobot frame has besides the dataset's own features
DEFAULT_FEATURES: dict[str, dict[str, Any]] = {
    name: {"dtype": dtype, "shape": [1], "names": None}
    for name, dtype in (
        ("timestamp", "float32"),
        ("frame_index", "int64"),
        ("episode_index", "int64"),
        ("index", "int64"),
        ("task_index", "int64"),
    )
}
VISUAL = ("image", "video")
_EPISODE_COLUMNS = ("episode_index", "length", "dataset_from_index", "data/chunk_index", "data/file_index")
_VIDEO_COLUMNS = ("chunk_index", "file_index")
_CACHED_FILES = 4


@dataclass(frozen=True)
class EpisodeMeta:
    """Where one episode lives: its rows in a data file, and its span in each video file."""

    index: int
    length: int
    tasks: tuple[str, ...]
    start: int
    data_file: str
    videos: dict[str, tuple[str, float]] = field(default_factory=dict)


class LeRobotDataset:
    """A LeRobot v3 dataset on disk; frames are read per data file, only when asked for."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise DatasetError(f"{self.root}: no such dataset folder")
        self.info = self._read_info()
        self.features: dict[str, dict[str, Any]] = self.info["features"]
        self.fps = float(self.info["fps"])
        self.tasks = self._read_tasks()
        self.episodes = self._read_episodes()
        self.stats = self._read_stats()
        self._check_data_files()
        self._tables: OrderedDict[str, tuple[pa.Table, np.ndarray]] = OrderedDict()

    # -- metadata ---------------------------------------------------------------------------------

    def _read_info(self) -> dict[str, Any]:
        path = self.root / INFO_PATH
        try:
            info = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise DatasetError(f"{path}: missing; {self.root} is not a LeRobot dataset") from None
        except (OSError, ValueError, RecursionError) as exc:
            raise DatasetError(f"{path}: unreadable ({first_line(exc)})") from None
        if not isinstance(info, dict):
            raise DatasetError(f"{path}: expected a JSON object")
        missing = [k for k in ("codebase_version", "fps", "features", "data_path", "total_frames") if k not in info]
        if missing:
            raise DatasetError(f"{path}: missing {', '.join(missing)}")
        if not str(info["codebase_version"]).startswith("v3."):
            raise DatasetError(
                f"{path}: codebase_version {info['codebase_version']} is not supported; convert the dataset to v3.0"
            )
        _check_info_types(path, info)
        return info

    def _read_tasks(self) -> list[str]:
        table = _read_parquet(self.root / TASKS_PATH)
        # LeRobot writes the task text as the pandas index, named "task" (unnamed in some exports)
        text = next((c for c in ("task", "__index_level_0__") if c in table.column_names), None)
        if text is None or "task_index" not in table.column_names:
            raise DatasetError(f"{self.root / TASKS_PATH}: expected columns task and task_index")
        tasks = dict(zip(table["task_index"].to_pylist(), table[text].to_pylist(), strict=True))
        if sorted(tasks) != list(range(len(tasks))):
            raise DatasetError(f"{self.root / TASKS_PATH}: task_index must run from 0 to {len(tasks) - 1}")
        return [tasks[i] for i in range(len(tasks))]

    def _read_episodes(self) -> list[EpisodeMeta]:
        paths = sorted((self.root / "meta" / "episodes").glob("*/*.parquet"))
        if not paths:
            raise DatasetError(f"{self.root / 'meta' / 'episodes'}: no episode metadata files")
        episodes: list[EpisodeMeta] = []
        for path in paths:
            table = _read_parquet(path)
            missing = [c for c in (*_EPISODE_COLUMNS, "tasks") if c not in table.column_names]
            if missing:
                raise DatasetError(f"{path}: missing columns {', '.join(missing)}")
            # hub datasets add per-episode statistics here; skip them, they are large and unused
            table = table.select([c for c in table.column_names if not c.startswith("stats/")])
            episodes += [self._episode(row) for row in table.to_pylist()]
        episodes.sort(key=lambda e: e.index)
        declared = self.info.get("total_episodes", len(episodes))
        if len(episodes) != declared:
            raise DatasetError(
                f"{self.root / INFO_PATH}: declares {declared} episodes, meta/episodes lists {len(episodes)}"
            )
        return episodes

    def _inside(self, template: str, where: str, **fields: Any) -> str:
        """A path template of info.json filled in, refused when it leaves the dataset folder or is malformed."""
        try:
            for _, field, spec, _ in string.Formatter().parse(template):
                width = re.search(r"\d+", spec or "")
                if field is not None and (field not in fields or (width and int(width.group()) > 32)):
                    raise ValueError(
                        f"field {{{field}:{spec}}} is not one of {', '.join(fields)} at a width of 32 or less"
                    )
            relative = template.format(**fields)
        except (KeyError, IndexError, ValueError, TypeError, AttributeError) as exc:
            raise DatasetError(
                f"{self.root / INFO_PATH}: {where} {shown(template)} cannot be filled in ({first_line(exc)})"
            ) from None
        if len(relative) > 4096 or Path(relative).is_absolute() or ".." in Path(relative).parts:
            raise DatasetError(
                f"{self.root / INFO_PATH}: {where} {shown(template)} gives {shown(relative)}, "
                "which leaves the dataset folder; paths must stay inside it"
            )
        return relative

    def _episode(self, row: dict[str, Any]) -> EpisodeMeta:
        where = f"{self.root / 'meta' / 'episodes'}: episode {shown(row.get('episode_index'))}"
        for column in (*_EPISODE_COLUMNS, *(f"videos/{k}/{c}" for k in self.video_keys for c in _VIDEO_COLUMNS)):
            value = row.get(column)
            if column in row and value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise DatasetError(f"{where}: {column} must be an integer, got {shown(value)}")
        if not isinstance(row.get("tasks") or [], (list, tuple)):
            raise DatasetError(f"{where}: tasks must be a list of strings, got {shown(row.get('tasks'))}")
        if row["length"] < 1:
            raise DatasetError(f"{where}: length must be at least 1, got {row['length']}")
        data_file = self._inside(
            self.info["data_path"], "data_path", chunk_index=row["data/chunk_index"], file_index=row["data/file_index"]
        )
        videos = {}
        for key in self.video_keys:
            prefix = f"videos/{key}/"
            if row.get(prefix + "chunk_index") is None:
                raise DatasetError(f"{self.root}: episode {row['episode_index']} has no video for feature {key!r}")
            path = self._inside(
                str(self.info.get("video_path")),
                "video_path",
                video_key=key,
                chunk_index=row[prefix + "chunk_index"],
                file_index=row[prefix + "file_index"],
            )
            videos[key] = (path, float(row.get(prefix + "from_timestamp") or 0.0))
        return EpisodeMeta(
            index=int(row["episode_index"]),
            length=int(row["length"]),
            tasks=tuple(row["tasks"] or ()),
            start=int(row["dataset_from_index"]),
            data_file=data_file,
            videos=videos,
        )

    def _read_stats(self) -> dict[str, Any] | None:
        path = self.root / STATS_PATH
        if not path.exists():
            return None
        try:
            stats = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError) as exc:
            raise DatasetError(f"{path}: unreadable ({first_line(exc)})") from None
        if not isinstance(stats, dict) or not all(isinstance(v, dict) for v in stats.values()):
            raise DatasetError(f"{path}: expected an object of features, each an object of statistics")
        return stats

    def _check_data_files(self) -> None:
        """Every data file present, readable, with the declared columns and shapes; frames add up."""
        frames = 0
        for relative in dict.fromkeys(e.data_file for e in self.episodes):
            path = self.root / relative
            try:
                metadata = pq.read_metadata(path)
            except FileNotFoundError:
                raise DatasetError(f"{path}: missing (meta/episodes points to it)") from None
            except (OSError, pa.ArrowException) as exc:
                raise DatasetError(f"{path}: corrupt parquet file ({first_line(exc)})") from None
            schema = metadata.schema.to_arrow_schema()
            for name, feature in self.features.items():
                if feature["dtype"] != "video":
                    _check_column(path, schema, name, feature)
            frames += metadata.num_rows
        for episode in self.episodes:
            for video, _ in episode.videos.values():
                if not (self.root / video).is_file():
                    raise DatasetError(f"{self.root / video}: missing (episode {episode.index} points to it)")
        declared = int(self.info["total_frames"])
        if frames != declared or self.num_frames != declared:
            raise DatasetError(
                f"{self.root / INFO_PATH}: declares {declared} frames, but the data files hold {frames} "
                f"and the episodes {self.num_frames}"
            )

    # -- features ---------------------------------------------------------------------------------

    @property
    def video_keys(self) -> list[str]:
        return [name for name, f in self.info["features"].items() if f["dtype"] == "video"]

    @property
    def num_frames(self) -> int:
        return sum(e.length for e in self.episodes)

    def require(self, name: str, setting: str, *, visual: bool = False) -> None:
        """Fail with one line if the feature that config ``setting`` names is absent or of the wrong kind."""
        if name not in self.features:
            have = ", ".join(n for n in self.features if n not in DEFAULT_FEATURES)
            raise DatasetError(f"{setting}: {self.root} has no feature {name!r} (it has: {have})")
        dtype = self.features[name]["dtype"]
        if visual and dtype not in VISUAL:
            raise DatasetError(f"{setting}: feature {name!r} of {self.root} is {dtype}, not an image")
        if dtype == "video":
            require_av()

    def _table(self, relative: str) -> tuple[pa.Table, np.ndarray]:
        """A data file and its ``index`` column, the last few kept since episodes are read file by file."""
        if relative not in self._tables:
            table = _read_parquet(self.root / relative)
            self._tables[relative] = (table, table["index"].to_numpy())
            if len(self._tables) > _CACHED_FILES:
                self._tables.popitem(last=False)
        self._tables.move_to_end(relative)
        return self._tables[relative]

    def _rows(self, episode: EpisodeMeta, name: str) -> pa.Array:
        table, index = self._table(episode.data_file)
        row = int(np.searchsorted(index, episode.start))
        expected = np.arange(episode.start, episode.start + episode.length)
        if not np.array_equal(index[row : row + episode.length], expected):
            raise DatasetError(
                f"{self.root / episode.data_file}: lacks frames {episode.start}..{expected[-1]} "
                f"of episode {episode.index}"
            )
        return table[name].slice(row, episode.length).combine_chunks()

    def column(self, episode: EpisodeMeta, name: str) -> np.ndarray:
        """A numeric feature of one episode as ``(length, *shape)``."""
        feature = self.features[name]
        shape = tuple(feature["shape"])
        values = self._rows(episode, name)
        flat = values.flatten() if pa.types.is_list(values.type) or pa.types.is_fixed_size_list(values.type) else values
        array = flat.to_numpy(zero_copy_only=False)
        if array.size != episode.length * math.prod(shape):
            raise DatasetError(
                f"{self.root / episode.data_file}: feature {name!r} has {array.size // max(episode.length, 1)} "
                f"values per frame, info.json declares shape {list(shape)}"
            )
        return array.reshape(episode.length, *shape).astype(feature["dtype"], copy=False)

    def frames(self, episode: EpisodeMeta, name: str) -> np.ndarray:
        """An image or video feature of one episode as ``(length, H, W, 3)`` uint8."""
        if self.features[name]["dtype"] == "video":
            path, start = episode.videos[name]
            where = self.root / path
            images = decode(where, start, episode.length, self.fps)
        else:
            where = self.root / episode.data_file
            try:
                declared = tuple(self.features[name]["shape"])
                images = np.stack([_decode_png(cell, declared) for cell in self._rows(episode, name).to_pylist()])
            except _WrongSize as exc:
                raise DatasetError(f"{where}: feature {name!r} {exc}") from None
            except (OSError, ValueError, Image.DecompressionBombError) as exc:
                raise DatasetError(
                    f"{where}: feature {name!r} holds an undecodable image ({first_line(exc)})"
                ) from None
        declared = tuple(self.features[name]["shape"])
        if images.shape[1:] != declared:
            raise DatasetError(
                f"{where}: feature {name!r} has frames of shape {list(images.shape[1:])}, "
                f"info.json declares {list(declared)}"
            )
        if len(images) != episode.length:
            raise DatasetError(f"{where}: episode {episode.index} has {len(images)} frames, expected {episode.length}")
        return images

    def task(self, episode: EpisodeMeta) -> str:
        """The instruction of an episode's first frame."""
        return self.tasks[int(self.frame_tasks(episode)[0])]

    def frame_tasks(self, episode: EpisodeMeta) -> np.ndarray:
        """Each frame's ``task_index`` ``(length,)``: LeRobot lets the task change inside an episode."""
        indices = self._rows(episode, "task_index").to_numpy(zero_copy_only=False)
        outside = (indices < 0) | (indices >= len(self.tasks))
        if outside.any():
            frame = int(np.argmax(outside))
            raise DatasetError(
                f"{self.root / episode.data_file}: frame {frame} of episode {episode.index} has task_index "
                f"{int(indices[frame])}, which is not in meta/tasks.parquet ({len(self.tasks)} tasks)"
            )
        return indices.astype(np.int64)


#: dtypes a feature may declare: LeRobot's numeric ones, and its two visual kinds
DTYPES = (
    *("float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"),
    *("bool", "string", *VISUAL),
)
#: the most values one frame of one feature may declare (a 4K RGB frame is 25 million)
MAX_FEATURE_VALUES = 2**26


def _check_info_types(path: Path, info: dict[str, Any]) -> None:
    """Every field robovlms reads from info.json, of the type LeRobot writes, or one line that names it."""
    fps = info["fps"]
    if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not math.isfinite(fps) or fps <= 0:
        raise DatasetError(f"{path}: fps must be a positive number, got {shown(fps)}")
    total = info["total_frames"]
    if isinstance(total, bool) or not isinstance(total, int) or total < 1:
        raise DatasetError(f"{path}: total_frames must be a positive integer, got {shown(total)} (an empty dataset?)")
    for key in ("data_path", "video_path"):
        if key in info and info[key] is not None and not isinstance(info[key], str):
            raise DatasetError(f"{path}: {key} must be a path template string, got {shown(info[key])}")
    features = info["features"]
    if not isinstance(features, dict) or not features:
        raise DatasetError(f"{path}: features must be an object of feature names, got {shown(features)}")
    for name, feature in features.items():
        if not isinstance(feature, dict) or "dtype" not in feature or "shape" not in feature:
            raise DatasetError(f"{path}: feature {shown(name)} needs a dtype and a shape")
        if feature["dtype"] not in DTYPES:
            raise DatasetError(
                f"{path}: feature {shown(name)} has dtype {shown(feature['dtype'])}; "
                f"expected one of {', '.join(DTYPES)}"
            )
        shape = feature["shape"]
        if (
            not isinstance(shape, list)
            or not shape
            or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in shape)
            or math.prod(shape) > MAX_FEATURE_VALUES
        ):
            raise DatasetError(
                f"{path}: feature {shown(name)} has shape {shown(shape)}; expected a list of positive integers "
                f"with at most {MAX_FEATURE_VALUES} values in all"
            )
        if feature["dtype"] in VISUAL and (len(shape) != 3 or shape[2] != 3):
            raise DatasetError(f"{path}: feature {shown(name)} is an image of shape {shape}; expected [H, W, 3]")


def _read_parquet(path: Path) -> pa.Table:
    try:
        return pq.read_table(path)
    except FileNotFoundError:
        raise DatasetError(f"{path}: missing") from None
    except (OSError, pa.ArrowException) as exc:
        raise DatasetError(f"{path}: corrupt parquet file ({first_line(exc)})") from None


def _check_column(path: Path, schema: pa.Schema, name: str, feature: dict[str, Any]) -> None:
    if name not in schema.names:
        raise DatasetError(f"{path}: missing column {name!r} that info.json declares")
    kind = schema.field(name).type
    if feature["dtype"] == "image":
        if not pa.types.is_struct(kind) or kind.get_field_index("bytes") < 0:
            raise DatasetError(f"{path}: column {name!r} is {kind}, expected an image struct {{bytes, path}}")
        return
    size = math.prod(feature["shape"])
    if pa.types.is_fixed_size_list(kind) and kind.list_size != size:
        raise DatasetError(
            f"{path}: column {name!r} has {kind.list_size} values per frame, "
            f"info.json declares shape {feature['shape']}"
        )
    if not (pa.types.is_list(kind) or pa.types.is_fixed_size_list(kind)) and size != 1:
        raise DatasetError(
            f"{path}: column {name!r} holds one value per frame, info.json declares shape {feature['shape']}"
        )


class _WrongSize(ValueError):
    """An embedded frame whose header disagrees with info.json: refused before it is decompressed."""


def _decode_png(cell: dict[str, Any] | None, declared: tuple[int, ...]) -> np.ndarray:
    """One embedded frame, checked against its declared ``(H, W, 3)`` from the header, before it is decompressed."""
    if not isinstance(cell, dict) or cell.get("bytes") is None:
        raise ValueError("a frame without embedded bytes; images stored as paths are not supported")
    with Image.open(io.BytesIO(cell["bytes"])) as image:
        if (image.height, image.width) != declared[:2]:  # a small file may decompress to gigabytes
            raise _WrongSize(
                f"has frames of shape {[image.height, image.width, 3]}, info.json declares {list(declared)}"
            )
        return np.asarray(image.convert("RGB"))
