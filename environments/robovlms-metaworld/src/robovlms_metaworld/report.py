"""The Meta-World job a user starts with one command: expert data, a tiny VLA, closed loop, a report.

``python -m robovlms_metaworld.report`` (what ``nox -s metaworld`` runs) is the core's demo job on
Meta-World: reach, push and pick-place share one scene, so a policy that succeeds above its
language-blind self there follows the instruction. The default sizes fit well within 45 minutes on
2 cores (the README gives the measured run); ``--smoke`` is the minute-long version CI runs. The
report adds the rendering speed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from robovlms.config import apply_overrides
from robovlms.demo.pipeline import REPORT, DemoSize, demo_config, run_demo
from robovlms.envs.base import parse_tasks
from robovlms.errors import RoboVLMsError
from robovlms_metaworld import rendering
from robovlms_metaworld.environment import MetaWorld

#: tasks that share one scene: only the instruction tells the policy which to do
SHARED_SCENE = ["reach", "push", "pick-place"]
#: a tenth of Meta-World's spread of puck and goal positions: learnable by a tiny VLA in minutes
JITTER = 0.1
MAX_STEPS = 100
#: evaluation processes: software rendering and the policy share the cores
WORKERS = 2


#: what the report changes in the core's demo config: both cameras, and one frame per step with an MLP head
#: (the window of policy_head history costs four passes of the VLM per sample, and Meta-World's 4-D
#: state already says where the arm and the gripper are)
RECIPE = [
    f"data.image_keys={json.dumps(list(MetaWorld.CAMERAS))}",
    "model.history_mode=one_step",
    "model.history_length=1",
    "model.action_head=mlp",
]


def render_fps(image_size: int, observations: int = 100) -> float:
    """Observations per second (every camera rendered once) at ``image_size``, as the episodes render them."""
    with MetaWorld(tasks=SHARED_SCENE[:1], image_size=image_size) as env:
        env.reset(0)
        start = time.perf_counter()
        for _ in range(observations):
            env.observation()
        return observations / (time.perf_counter() - start)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m robovlms_metaworld.report", description=__doc__)
    parser.add_argument("--output", default="robovlms-metaworld", help="folder for the report")
    parser.add_argument("--tasks", default=",".join(SHARED_SCENE), help="comma-separated Meta-World tasks")
    parser.add_argument("--episodes", type=int, default=120, help="expert episodes to train on (all tasks)")
    parser.add_argument("--eval-episodes", type=int, default=20, help="evaluation episodes per task")
    parser.add_argument("--max-steps", type=int, default=2000, help="training steps")
    parser.add_argument("--image-size", type=int, default=64, help="camera resolution in pixels")
    parser.add_argument("--smoke", action="store_true", help="a seconds-long run: 3 episodes, 2 steps, 1 evaluation")
    args = parser.parse_args(argv)
    reason = rendering.problem()
    if reason:
        print(f"skipped: Meta-World cannot render here: {reason}", file=sys.stderr)
        return 3
    overrides = list(RECIPE)
    if args.smoke:
        args.episodes, args.eval_episodes, args.max_steps = 3, 1, 2
        overrides.append("training.batch_size=2")
    config = apply_overrides(demo_config(), [*overrides, f"training.max_steps={args.max_steps}"])
    size = DemoSize(
        episodes=args.episodes,
        eval_episodes=args.eval_episodes,
        image_size=args.image_size,
        eval_workers=1 if args.smoke else WORKERS,
    )
    options = {"max_steps": 10 if args.smoke else MAX_STEPS, "jitter": JITTER}
    try:
        summary = run_demo(
            args.output, size, env="metaworld", tasks=parse_tasks(args.tasks), config=config, options=options
        )
        fps = render_fps(args.image_size)
    except RoboVLMsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    summary["render_fps"] = round(fps, 1)
    output = Path(args.output)
    (output / "summary.json").write_text(json.dumps(summary, indent=2))
    with (output / REPORT).open("a") as report:
        report.write(
            f"\nRendering: {fps:.0f} observations per second, each {len(MetaWorld.CAMERAS)} cameras at "
            f"{args.image_size} px (MUJOCO_GL={rendering.backend()}); layouts at {JITTER:g} of Meta-World's "
            f"spread, episodes of at most {options['max_steps']} steps.\n"
        )
    print(
        f"success rate {summary['success_rate']:.0%} (expert {summary['expert_success_rate']:.0%}, "
        f"instruction hidden {summary['language_blind_success_rate']:.0%}); report: {summary['report']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
