"""The main job on the embedded default: expert data, a tiny VLA trained on it, closed-loop results.

Everything comes from this package (the tabletop task, its expert, the demo config), so the demo
runs on a fresh machine with no download. It writes a report a person can read: the success rate
against the expert's and a language-blind baseline's (with 95% intervals), a loss curve, and
rollouts. An environment plugin runs the same job on its own tasks with its own config
(``robovlms-metaworld``'s report does).
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

from robovlms.config import Config, apply_overrides, config_from_dict
from robovlms.datasets.recording import generate
from robovlms.errors import RoboVLMsError
from robovlms.evaluation.closed_loop import evaluate
from robovlms.evaluation.pictures import loss_curve
from robovlms.training.trainer import train

REPORT = "report.md"


@dataclass(frozen=True)
class DemoSize:
    """How much the demo does; the defaults are what the README's first command runs."""

    episodes: int = 2000  # 12 s to generate; fewer episodes let the tiny model overfit
    eval_episodes: int = 20
    #: processes running evaluation episodes (a simulator that renders in software gains from two)
    eval_workers: int = 1
    max_steps: int | None = None
    seed: int = 0
    #: camera resolution of the recorded data (default: the config's vlm.image_size, at least 64)
    image_size: int | None = None


def demo_config() -> Config:
    """The built-in config: a tiny PaliGemma with the LSTM head and policy_head history."""
    return config_from_dict(json.loads(files("robovlms.demo").joinpath("config.json").read_text()))


def _prepare(output: Path) -> None:
    if output.exists() and any(output.iterdir()):
        if not (output / REPORT).is_file() and not (output / "run" / "run.json").is_file():
            raise RoboVLMsError(f"{output} is not empty and is not an earlier demo's output; choose another --output")
        shutil.rmtree(output)  # an earlier demo's output: the demo always starts afresh
    output.mkdir(parents=True, exist_ok=True)


def run_demo(
    output: str | Path,
    size: DemoSize = DemoSize(),
    *,
    progress: bool = True,
    env: str = "tabletop",
    tasks: list[str] | None = None,
    config: Config | None = None,
    options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Generate, train, evaluate and report into ``output``; return the summary.

    ``env``, ``tasks`` and ``options`` (the environment's constructor arguments) choose where;
    ``config`` (default: the built-in tiny one) what is trained.
    """
    output = Path(output)
    _prepare(output)
    config = config or demo_config()
    overrides = [f"data.path={json.dumps(str(output / 'dataset'))}"]
    if size.max_steps is not None:
        overrides.append(f"training.max_steps={size.max_steps}")
    config = apply_overrides(config, overrides)
    seconds: dict[str, float] = {}

    start = time.perf_counter()
    image_size = size.image_size or max(config.vlm.image_size or 64, 64)
    generated = generate(
        output / "dataset", size.episodes, env=env, tasks=tasks, seed=size.seed, image_size=image_size, options=options
    )
    seconds["generate"] = time.perf_counter() - start

    start = time.perf_counter()
    train(config, output / "run", progress=progress)
    seconds["train"] = time.perf_counter() - start

    start = time.perf_counter()
    # evaluation episodes start far from the generator's seeds: the policy is tested on new layouts
    report = evaluate(
        output / "run",
        episodes=size.eval_episodes,
        workers=size.eval_workers,
        seed=10_000 + size.seed,
        picture=output / "rollouts.png",
        options=options,
    )
    seconds["eval"] = time.perf_counter() - start

    loss_curve(output / "run" / "metrics.jsonl", output / "loss.png")
    summary = {
        "success_rate": report["success_rate"],
        "expert_success_rate": report["expert"]["success_rate"],
        "language_blind_success_rate": report["language_blind"]["success_rate"],
        "episodes": report["episodes"],
        "per_task": report["per_task"],
        "training_frames": generated.frames,
        "training_episodes": generated.episodes,
        "environment": generated.environment,
        "seconds": {k: round(v, 1) for k, v in seconds.items()},
        "report": str(output / REPORT),
        "evaluation": report,
    }
    (output / "summary.json").write_text(json.dumps(summary, indent=2))
    (output / REPORT).write_text(_markdown(summary, config))
    return summary


def _rate(part: dict[str, Any]) -> str:
    low, high = part["ci95"]
    return f"{part['success_rate']:.0%} ({low:.0%}-{high:.0%})"


def _markdown(summary: dict[str, Any], config: Config) -> str:
    report = summary["evaluation"]
    rows = "\n".join(
        f"| {task} | {_rate(values)} | {_rate(report['expert']['per_task'][task])} | "
        f"{_rate(report['language_blind']['per_task'][task])} | {values['episodes']} |"
        for task, values in report["per_task"].items()
    )
    seconds = summary["seconds"]
    inputs = f", the {config.model.state_dim}-value robot state beside each frame" if config.model.state_dim else ""
    cameras = ", ".join(config.data.image_keys)
    return f"""# robovlms demo: {summary["environment"]}

A tiny {config.model.backbone} VLA with the {config.model.action_head} head ({config.model.history_mode} history,
window {config.model.history_length}, chunks of {config.model.action_chunk_size}{inputs}, cameras {cameras}) trained on
{summary["training_frames"]} frames ({summary["training_episodes"]} episodes) of scripted-expert data in the
{summary["environment"]} environment, then run in closed loop. Rates with their 95% Wilson intervals.

| policy | success rate |
|---|---|
| trained VLA | **{_rate(report)}** |
| scripted expert | {_rate(report["expert"])} |
| same VLA, instruction hidden | {_rate(report["language_blind"])} |

{summary["episodes"]} evaluation episodes (seed {report["seed"]}), the same for all three,
mean length {report["mean_episode_length"]:.1f} steps, {report["step_time_ms"]:.1f} ms per policy step.

| task | VLA | expert | instruction hidden | episodes |
|---|---|---|---|---|
{rows}

Wall time: generate {seconds["generate"]:.0f} s, train {seconds["train"]:.0f} s, evaluate {seconds["eval"]:.0f} s.

## Training loss

![loss](loss.png)

## Rollouts

![rollouts](rollouts.png)
"""
