"""Closed-loop evaluation in the built-in tabletop task, with the reference points beside it.

A policy's success rate means little alone, so every report carries two references measured on
the very same episodes: the scripted expert (what the task allows) and the same policy with the
instruction replaced by an empty string (what it does without language; about one in three on
this task). Episodes are fixed by the seed, and the policy is deterministic, so a report can be
reproduced exactly.
"""

from __future__ import annotations

import json
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from robovlms.config import DataConfig
from robovlms.envs.tabletop import TASKS, ScriptedExpert, TabletopEnv
from robovlms.evaluation.pictures import rollout_strip
from robovlms.model.vla import VLA

#: frames per rollout drawn in the picture, and rollouts shown
PICTURE_FRAMES, PICTURE_ROLLOUTS = 6, 3


@dataclass
class Episode:
    seed: int
    task: str
    instruction: str
    success: bool
    length: int
    step_seconds: list[float] = field(default_factory=list, repr=False)
    frames: list[np.ndarray] = field(default_factory=list, repr=False)


def seeds_per_task(seed: int, per_task: int, image_size: int) -> list[int]:
    """The first seeds from ``seed`` on that give ``per_task`` episodes of every task."""
    env = TabletopEnv(image_size=image_size)
    chosen: dict[str, list[int]] = {task: [] for task in TASKS}
    candidate = seed
    while any(len(seeds) < per_task for seeds in chosen.values()):
        env.reset(candidate)
        if len(chosen[env.task]) < per_task:
            chosen[env.task].append(candidate)
        candidate += 1
    return sorted(s for seeds in chosen.values() for s in seeds)


def rollout(act: Any, env: TabletopEnv, seed: int, *, blind: bool = False, record: bool = False) -> Episode:
    """Run one episode with ``act(observation) -> action``; ``blind`` hides the instruction."""
    observation = env.reset(seed)
    episode = Episode(seed, env.task, observation["instruction"], False, 0)
    done = False
    while not done:
        if record:
            episode.frames.append(observation["images"][env.cameras[0]])
        shown = {**observation, "instruction": ""} if blind else observation
        start = time.perf_counter()
        action = act(shown)
        episode.step_seconds.append(time.perf_counter() - start)
        observation, success, done = env.step(action)
        episode.success = episode.success or success
        episode.length += 1
    if record:
        episode.frames.append(observation["images"][env.cameras[0]])
    return episode


def _summary(episodes: list[Episode]) -> dict[str, Any]:
    tasks = sorted({e.task for e in episodes})
    per_task = {
        task: {
            "success_rate": float(np.mean([e.success for e in episodes if e.task == task])),
            "episodes": sum(e.task == task for e in episodes),
        }
        for task in tasks
    }
    times = [t for e in episodes for t in e.step_seconds]
    return {
        "success_rate": float(np.mean([e.success for e in episodes])),
        "episodes": len(episodes),
        "per_task": per_task,
        "mean_episode_length": float(np.mean([e.length for e in episodes])),
        "step_time_ms": 1e3 * statistics.median(times) if times else 0.0,
    }


# -- the policy, in this process or in worker processes -----------------------------------------

_worker: dict[str, Any] = {}


def _load_policy(run: str, trust_remote_code: bool = False) -> VLA:
    """The run's VLA, loaded once per process and run (worker processes call this as their initializer)."""
    if _worker.get("run") != run:
        torch.set_num_threads(1)
        _worker.update(run=run, vla=VLA.from_pretrained(run, trust_remote_code=trust_remote_code))
    return _worker["vla"]


def _policy_episodes(run: str, seeds: list[int], image_size: int, blind: bool, record: int) -> list[Episode]:
    vla = _load_policy(run)
    policy, env = vla.policy(), TabletopEnv(image_size=image_size, cameras=vla.cameras)  # the cameras it was trained on
    out = []
    for index, seed in enumerate(seeds):
        policy.reset(seed)  # a sampling head draws the same noise for the same episode
        out.append(rollout(policy.step, env, seed, blind=blind, record=index < record))
    return out


def _run_policy(
    run: str, seeds: list[int], image_size: int, workers: int, record: int, trust_remote_code: bool
) -> tuple[list[Episode], list[Episode]]:
    """The policy's episodes with the instruction shown, then hidden; one worker pool serves both."""
    if workers <= 1:
        return (
            _policy_episodes(run, seeds, image_size, False, record),
            _policy_episodes(run, seeds, image_size, True, 0),
        )
    shards = [seeds[i::workers] for i in range(workers)]
    with ProcessPoolExecutor(workers, initializer=_load_policy, initargs=(run, trust_remote_code)) as pool:
        passes = [
            [
                pool.submit(_policy_episodes, run, shard, image_size, blind, 0 if blind or i else record)
                for i, shard in enumerate(shards)
            ]
            for blind in (False, True)
        ]
        shown, hidden = (sorted((e for f in futures for e in f.result()), key=lambda e: e.seed) for futures in passes)
    return shown, hidden


def evaluate(
    run: str | Path,
    *,
    episodes: int = 10,
    seed: int = 0,
    workers: int = 1,
    image_size: int | None = None,
    picture: str | Path | None = None,
    trust_remote_code: bool = False,
) -> dict[str, Any]:
    """Success per task and overall for the run's policy, the expert and the language-blind policy.

    ``trust_remote_code`` lets the run's backbone folder run its own Python code (the caller's call).
    """
    run = str(run)
    vla = _load_policy(run, trust_remote_code)  # fail early, in this process, with the loader's one-line errors
    trained = next(iter((vla.camera_sizes or {}).values()), None)
    size = image_size or (trained[0] if trained else None) or _dataset_image_size(vla.config.data) or 64
    seeds = seeds_per_task(seed, episodes, size)
    expert = ScriptedExpert()
    env = TabletopEnv(image_size=size, cameras=vla.cameras)  # a camera the tabletop lacks fails here, at once
    expert_episodes = [rollout(lambda _obs: expert.act(env), env, s) for s in seeds]
    record = PICTURE_ROLLOUTS if picture else 0
    policy_episodes, blind_episodes = _run_policy(run, seeds, size, workers, record, trust_remote_code)
    report = _summary(policy_episodes)
    report.update(
        seed=seed,
        image_size=size,
        expert=_summary(expert_episodes),
        language_blind=_summary(blind_episodes),
    )
    if picture:
        rollout_strip([e for e in policy_episodes if e.frames], Path(picture), frames=PICTURE_FRAMES)
        report["picture"] = str(picture)
    return report


def _dataset_image_size(data: DataConfig) -> int | None:
    """The image size the run was trained on, read from its dataset's info.json when it is still there."""
    if data.path is None:
        return None
    try:
        info = json.loads((Path(data.path) / "meta" / "info.json").read_text())
        return int(info["features"][data.image_keys[0]]["shape"][0])
    except (OSError, KeyError, TypeError, ValueError, IndexError):
        return None
