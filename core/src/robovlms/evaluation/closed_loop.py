"""Closed-loop evaluation in any installed environment, with the reference points beside it.

A policy's success rate means little alone, so every report carries two references measured on
the very same episodes: the environment's scripted expert (what the task allows) and the same
policy with the instruction replaced by an empty string (what it does without language; about one
in three on the tabletop). Each rate comes with its 95% Wilson interval, since evaluation episodes
are few. Episodes are fixed by the seed, and the policy is deterministic, so a report can be
reproduced exactly. The environment and tasks default to those the run was trained on.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import statistics
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from robovlms.config import DataConfig
from robovlms.envs.base import BaseEnvironment, check_options, environment_class
from robovlms.evaluation.pictures import rollout_strip
from robovlms.model.storage import read_config
from robovlms.model.vla import VLA

#: frames per rollout drawn in the picture, and rollouts shown
PICTURE_FRAMES, PICTURE_ROLLOUTS = 6, 3
#: the environment of a run that names none (trained before runs remembered theirs)
DEFAULT_ENVIRONMENT = "tabletop"


@dataclass(frozen=True)
class Setting:
    """Where episodes run: the environment, its tasks and cameras, the image size and its options."""

    environment: str
    tasks: tuple[str, ...] | None
    cameras: tuple[str, ...]
    image_size: int
    options: tuple[tuple[str, Any], ...] = ()

    def make(self) -> BaseEnvironment:
        cls = environment_class(self.environment)
        return cls(tasks=self.tasks, cameras=self.cameras, image_size=self.image_size, **dict(self.options))


@dataclass
class Episode:
    seed: int
    task: str
    instruction: str
    success: bool
    length: int
    step_seconds: list[float] = field(default_factory=list, repr=False)
    frames: list[np.ndarray] = field(default_factory=list, repr=False)


def seeds_per_task(env: BaseEnvironment, seed: int, per_task: int) -> list[int]:
    """The first seeds from ``seed`` on that give ``per_task`` episodes of every task of ``env``."""
    chosen: dict[str, list[int]] = {task: [] for task in env.tasks}
    candidate = seed
    while any(len(seeds) < per_task for seeds in chosen.values()):
        task = env.task_of(candidate)
        if len(chosen[task]) < per_task:
            chosen[task].append(candidate)
        candidate += 1
    return sorted(s for seeds in chosen.values() for s in seeds)


def rollout(act: Any, env: BaseEnvironment, seed: int, *, blind: bool = False, record: bool = False) -> Episode:
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


def wilson(successes: int, trials: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a success rate (95% by default); honest at 0% and 100% too."""
    if trials == 0:
        return (0.0, 1.0)
    rate = successes / trials
    middle = (rate + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * math.sqrt(rate * (1 - rate) / trials + z * z / (4 * trials * trials)) / (1 + z * z / trials)
    return (max(0.0, middle - half), min(1.0, middle + half))


def _rate(episodes: list[Episode]) -> dict[str, Any]:
    wins = sum(e.success for e in episodes)
    return {"success_rate": wins / len(episodes), "episodes": len(episodes), "ci95": wilson(wins, len(episodes))}


def _summary(episodes: list[Episode]) -> dict[str, Any]:
    tasks = sorted({e.task for e in episodes})
    per_task = {task: _rate([e for e in episodes if e.task == task]) for task in tasks}
    times = [t for e in episodes for t in e.step_seconds]
    return {
        **_rate(episodes),
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


def _policy_episodes(run: str, seeds: list[int], setting: Setting, blind: bool, record: int) -> list[Episode]:
    policy = _load_policy(run).policy()
    out = []
    with setting.make() as env:
        for index, seed in enumerate(seeds):
            policy.reset(seed)  # a sampling head draws the same noise for the same episode
            out.append(rollout(policy.step, env, seed, blind=blind, record=index < record))
    return out


def _run_policy(
    run: str, seeds: list[int], setting: Setting, workers: int, record: int, trust_remote_code: bool
) -> tuple[list[Episode], list[Episode]]:
    """The policy's episodes with the instruction shown, then hidden; one worker pool serves both."""
    if workers <= 1:
        return (
            _policy_episodes(run, seeds, setting, False, record),
            _policy_episodes(run, seeds, setting, True, 0),
        )
    shards = [seeds[i::workers] for i in range(workers)]
    # spawned, not forked: a fork inherits the parent's rendering context (the expert's episodes ran
    # here), and a child that then opens its own (Meta-World's EGL renderer) hangs
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        workers, mp_context=spawn, initializer=_load_policy, initargs=(run, trust_remote_code)
    ) as pool:
        passes = [
            [
                pool.submit(_policy_episodes, run, shard, setting, blind, 0 if blind or i else record)
                for i, shard in enumerate(shards)
            ]
            for blind in (False, True)
        ]
        shown, hidden = (sorted((e for f in futures for e in f.result()), key=lambda e: e.seed) for futures in passes)
    return shown, hidden


def evaluate(
    run: str | Path,
    *,
    env: str | None = None,
    tasks: Sequence[str] | None = None,
    episodes: int = 10,
    seed: int = 0,
    workers: int = 1,
    image_size: int | None = None,
    picture: str | Path | None = None,
    trust_remote_code: bool = False,
    options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Success per task and overall for the run's policy, the expert and the language-blind policy.

    ``env``, ``tasks`` and the environment's ``options`` default to what the run was trained on
    (``options`` given here override the recorded ones by name). ``trust_remote_code`` lets the
    run's backbone folder run its own Python code (the caller's call).
    """
    run = str(run)
    data = read_config(Path(run), trust_remote_code=trust_remote_code).data  # a bad run or option fails first,
    environment_name = env or data.environment or DEFAULT_ENVIRONMENT  # before any weight is read
    chosen = check_options(environment_class(environment_name), _options(data, env, options))
    vla = _load_policy(run, trust_remote_code)  # in this process, with the loader's one-line errors
    trained = next(iter((vla.camera_sizes or {}).values()), None)
    setting = Setting(
        environment=environment_name,
        tasks=tuple(tasks) if tasks is not None else (tuple(data.tasks) if data.tasks else None),
        cameras=tuple(vla.cameras),  # the cameras it was trained on; one the environment lacks fails at once
        image_size=image_size or (trained[0] if trained else None) or _dataset_image_size(data) or 64,
        options=tuple(sorted(chosen.items())),
    )
    with setting.make() as environment:
        seeds = seeds_per_task(environment, seed, episodes)
        expert_episodes = [rollout(lambda _obs: environment.expert_action(), environment, s) for s in seeds]
    record = PICTURE_ROLLOUTS if picture else 0
    policy_episodes, blind_episodes = _run_policy(run, seeds, setting, workers, record, trust_remote_code)
    report = _summary(policy_episodes)
    report.update(
        environment=setting.environment,
        seed=seed,
        image_size=setting.image_size,
        expert=_summary(expert_episodes),
        language_blind=_summary(blind_episodes),
    )
    if picture:
        rollout_strip([e for e in policy_episodes if e.frames], Path(picture), frames=PICTURE_FRAMES)
        report["picture"] = str(picture)
    return report


def _options(data: DataConfig, env: str | None, given: dict[str, Any] | None) -> dict[str, Any]:
    """The recorded options, when the run is evaluated in the environment it was trained in, under ``given``."""
    same = env is None or env == (data.environment or DEFAULT_ENVIRONMENT)
    recorded = (data.environment_options or {}) if same else {}
    return {**recorded, **(given or {})}


def _dataset_image_size(data: DataConfig) -> int | None:
    """The image size the run was trained on, read from its dataset's info.json when it is still there."""
    if data.path is None:
        return None
    try:
        info = json.loads((Path(data.path) / "meta" / "info.json").read_text())
        return int(info["features"][data.image_keys[0]]["shape"][0])
    except (OSError, KeyError, TypeError, ValueError, IndexError):
        return None
