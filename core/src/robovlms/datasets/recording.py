"""Expert demonstrations of any installed environment, written as a LeRobot v3 dataset.

This is how robovlms trains and benchmarks with no download: the environment's scripted expert is
run (the built-in tabletop by default, any ``robovlms.environments`` plugin by name), and each
episode (the frames of every camera seen before each action, the robot state, the actions, the
instruction as the task) becomes one LeRobot episode. ``info.json`` also names the environment and
its tasks, so that a run trained on the dataset remembers where to be evaluated.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from robovlms.config import Config
from robovlms.datasets.lerobot import DatasetError
from robovlms.datasets.writer import LeRobotWriter
from robovlms.envs.base import check_options, environment_class
from robovlms.errors import check_range

#: the info.json key naming the environment, tasks and options a dataset was recorded with
RECORDED = "robovlms_environment"
#: ``data`` config field -> its key under :data:`RECORDED`
RECORDED_FIELDS = {"environment": "name", "tasks": "tasks", "environment_options": "options"}


@dataclass(frozen=True)
class Generated:
    path: Path
    episodes: int
    frames: int
    environment: str
    tasks: tuple[str, ...]


def episode_seeds(seed: int, episodes: int) -> list[int]:
    """Independent per-episode seeds: datasets with different ``seed`` share no layouts by construction."""
    return [int(s) for s in np.random.SeedSequence(seed).generate_state(episodes)]


def generate(
    out: str | Path,
    episodes: int,
    *,
    env: str = "tabletop",
    tasks: Sequence[str] | None = None,
    seed: int = 0,
    image_size: int = 64,
    file_size_mb: float = 100.0,
    cameras: Sequence[str] | None = None,
    video: bool = False,
    options: dict[str, Any] | None = None,
) -> Generated:
    """Run ``env``'s expert for ``episodes`` episodes of ``tasks`` (all) and write them to the new folder ``out``.

    One image feature per camera (``cameras``, default the environment's), or with ``video`` one mp4
    feature per camera, as most LeRobot hub datasets store them. ``options`` go to the environment's
    constructor (``max_steps``, Meta-World's ``jitter``).
    """
    check_range(episodes, "--episodes", 1, 10**7, DatasetError)
    check_range(image_size, "--image-size", 16, 1024, DatasetError)  # the tabletop needs 16 pixels to draw
    check_range(seed, "--seed", 0, 2**63 - 1, DatasetError)
    cls = environment_class(env)
    if not cls.HAS_EXPERT:
        raise DatasetError(f"environment {env!r} has no scripted expert to record")
    options = check_options(cls, options or {})
    with cls(tasks=tasks, cameras=cameras, image_size=image_size, **options) as environment:
        image: dict[str, Any] = {
            "dtype": "video" if video else "image",
            "shape": [image_size, image_size, 3],
            "names": ["height", "width", "channels"],
        }
        features = {
            **{camera: dict(image) for camera in environment.cameras},
            "observation.state": {"dtype": "float32", "shape": [len(cls.STATE)], "names": list(cls.STATE)},
            "action": {"dtype": "float32", "shape": [len(cls.ACTION)], "names": list(cls.ACTION)},
        }
        recorded = {RECORDED: {"name": env, "tasks": list(environment.tasks), "options": options}}
        with LeRobotWriter(
            out, features, cls.FPS, robot_type=env, file_size_mb=file_size_mb, extra_info=recorded
        ) as writer:
            for episode_seed in episode_seeds(seed, episodes):
                observation, done = environment.reset(episode_seed), False
                frames: dict[str, list[np.ndarray]] = {name: [] for name in features}
                while not done:
                    action = environment.expert_action()
                    for camera, frame in observation["images"].items():
                        frames[camera].append(frame)
                    frames["observation.state"].append(observation["state"])
                    frames["action"].append(action)
                    observation, _, done = environment.step(action)
                writer.add_episode(environment.instruction, {name: np.stack(v) for name, v in frames.items()})
        return Generated(Path(out), episodes, writer.frames, env, environment.tasks)


def with_recorded_environment(config: Config) -> Config:
    """``config`` with ``data.environment``, ``data.tasks`` and ``data.environment_options`` taken from its
    dataset where it leaves them unset."""
    data = config.data
    unset = [field for field in RECORDED_FIELDS if getattr(data, field) is None]
    if data.path is None or not unset:
        return config
    try:
        recorded = json.loads((Path(data.path) / "meta" / "info.json").read_text()).get(RECORDED)
    except (OSError, ValueError, AttributeError):
        return config  # the dataset reader reports an unreadable dataset in its own words
    if not isinstance(recorded, dict):
        return config
    update = {field: recorded.get(RECORDED_FIELDS[field]) for field in unset}
    return config.model_copy(update={"data": data.model_copy(update=update)})
