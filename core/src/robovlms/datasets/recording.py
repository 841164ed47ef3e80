"""Expert demonstrations of the built-in tabletop task, written as a LeRobot v3 dataset.

This is how robovlms trains and benchmarks with no download: the scripted expert is run in
:class:`~robovlms.envs.tabletop.TabletopEnv`, and each episode (frames seen before each action, the
actions, the instruction as the task) becomes one LeRobot episode.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from robovlms.datasets.lerobot import DatasetError
from robovlms.datasets.writer import LeRobotWriter
from robovlms.envs.tabletop import TOP, ScriptedExpert, TabletopEnv
from robovlms.errors import check_range

FPS = 10
ARM = ["x", "y", "z", "roll", "pitch", "yaw", "gripper"]


@dataclass(frozen=True)
class Generated:
    path: Path
    episodes: int
    frames: int


def episode_seeds(seed: int, episodes: int) -> list[int]:
    """Independent per-episode seeds: datasets with different ``seed`` share no layouts by construction."""
    return [int(s) for s in np.random.SeedSequence(seed).generate_state(episodes)]


def generate(
    out: str | Path,
    episodes: int,
    *,
    seed: int = 0,
    image_size: int = 64,
    file_size_mb: float = 100.0,
    cameras: tuple[str, ...] | list[str] = (TOP,),
    video: bool = False,
) -> Generated:
    """Run the expert for ``episodes`` episodes and write them to the new folder ``out``, one image
    feature per camera (named as in :data:`robovlms.envs.tabletop.CAMERAS`), or with ``video`` one
    mp4 feature per camera, as most LeRobot hub datasets store them."""
    check_range(episodes, "--episodes", 1, 10**7, DatasetError)
    check_range(image_size, "--image-size", 16, 1024, DatasetError)  # the tabletop needs 16 pixels to draw
    check_range(seed, "--seed", 0, 2**63 - 1, DatasetError)
    env, expert = TabletopEnv(image_size=image_size, cameras=cameras), ScriptedExpert()
    image: dict[str, Any] = {
        "dtype": "video" if video else "image",
        "shape": [image_size, image_size, 3],
        "names": ["height", "width", "channels"],
    }
    features = {
        **{camera: dict(image) for camera in env.cameras},
        "observation.state": {"dtype": "float32", "shape": [4], "names": ["x", "y", "z", "gripper"]},
        "action": {"dtype": "float32", "shape": [7], "names": ARM},
    }
    with LeRobotWriter(out, features, FPS, robot_type="tabletop", file_size_mb=file_size_mb) as writer:
        for episode_seed in episode_seeds(seed, episodes):
            observation, done = env.reset(episode_seed), False
            images: dict[str, list[np.ndarray]] = {camera: [] for camera in env.cameras}
            states, actions = [], []
            while not done:
                action = expert.act(env)
                for camera, frame in observation["images"].items():
                    images[camera].append(frame)
                states.append(observation["state"])
                actions.append(action)
                observation, _, done = env.step(action)
            writer.add_episode(
                env.instruction,
                {
                    **{camera: np.stack(frames) for camera, frames in images.items()},
                    "observation.state": np.stack(states),
                    "action": np.stack(actions),
                },
            )
    return Generated(Path(out), episodes, writer.frames)
