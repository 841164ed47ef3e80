"""The ``robovlms`` command line.

Each subcommand is a small function; user mistakes surface as :class:`RoboVLMsError` and are
printed as one line per problem, with exit status 2 for bad input and 1 for failed checks.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from robovlms.errors import ConfigError, RoboVLMsError, check_range, shown

COLUMNS = ("name", "kind", "distribution", "version", "status", "reason")
ENV_HELP = "an installed environment (robovlms plugins lists them; default tabletop)"
OPTION_HELP = "an option of the environment, repeatable (the tabletop's max_steps; Meta-World's jitter and max_steps)"
TRUST_HELP = "let the run's backbone folder run its own Python code (never taken from the run's own config)"


def _table(rows: list[dict[str, str]]) -> str:
    widths = {c: max([len(c), *(len(r[c]) for r in rows)]) for c in COLUMNS[:-1]}
    lines = ["  ".join(c.upper().ljust(widths.get(c, 0)) for c in COLUMNS).rstrip()]
    lines += ["  ".join(r[c].ljust(widths.get(c, 0)) for c in COLUMNS).rstrip() for r in rows]
    return "\n".join(lines)


def cmd_plugins(args: argparse.Namespace) -> int:
    from robovlms.plugins.discovery import discover
    from robovlms.plugins.loading import check, strict

    found = discover()
    if args.check:
        found = [check(info) for info in found]
    rows = [info.as_dict() for info in found]
    if args.json:
        print(json.dumps(rows, indent=2))
    elif rows:
        print(_table(rows))
    else:
        print("no robovlms plugins installed (try: pip install robovlms-paligemma robovlms-action-heads)")
    return 1 if (args.check or strict()) and any(info.problem for info in found) else 0


def cmd_validate(args: argparse.Namespace) -> int:
    from robovlms.config import load_config
    from robovlms.model.components import head_class
    from robovlms.plugins.kinds import ACTION_HEAD, BACKBONE
    from robovlms.plugins.loading import unknown_names

    config = load_config(args.config)
    problems = [f"model.backbone: {p}" for p in unknown_names(BACKBONE, [config.model.backbone])]
    problems += [f"model.action_head: {p}" for p in unknown_names(ACTION_HEAD, [config.model.action_head])]
    if problems:
        raise ConfigError([f"{args.config}: {p}" for p in problems])
    try:
        head_class(config.model.action_head).check_mode(config.model.history_mode)
    except ConfigError as exc:
        raise ConfigError([f"{args.config}: {p}" for p in exc.problems]) from None
    print(config.model_dump_json(indent=2))
    return 0


def _address(host: str) -> str:
    """An IP address or a host name (RFC 1123 labels), else a one-line error."""
    import ipaddress
    import re

    try:
        ipaddress.ip_address(host)
        return host
    except ValueError:
        pass
    label = r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)"
    if len(host) <= 253 and re.fullmatch(rf"{label}(\.{label})*", host):
        return host
    raise RoboVLMsError(f"--host: expected an IP address or a host name, got {shown(host)}")


def cmd_train(args: argparse.Namespace) -> int:
    from pathlib import Path

    from robovlms.config import apply_overrides, load_config
    from robovlms.training.trainer import train

    if Path(args.output).exists() and not Path(args.output).is_dir():
        raise RoboVLMsError(f"--output: {shown(args.output)} is a file; name a new or empty folder for the run")

    config = apply_overrides(load_config(args.config), args.set)
    if args.max_steps is not None:
        config = apply_overrides(config, [f"training.max_steps={args.max_steps}"])
    metrics = train(config, args.output, resume=args.resume, progress=not args.no_progress)
    print(f"trained {metrics.get('step', 0)} steps into {args.output} (loss {metrics.get('loss', float('nan')):.4f})")
    return 0


def cmd_dataset_generate(args: argparse.Namespace) -> int:
    from robovlms.datasets.recording import generate
    from robovlms.envs.base import parse_options, parse_tasks

    cameras = [c.strip() for c in args.cameras.split(",") if c.strip()] if args.cameras else None
    done = generate(
        args.out,
        args.episodes,
        env=args.env,
        tasks=parse_tasks(args.tasks),
        seed=args.seed,
        image_size=args.image_size,
        cameras=cameras,
        video=args.video,
        options=parse_options(args.option),
    )
    print(
        f"wrote {done.episodes} episodes ({done.frames} frames) of {done.environment} "
        f"({', '.join(done.tasks)}) to {done.path}"
    )
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from pathlib import Path

    from robovlms.envs.base import parse_options, parse_tasks
    from robovlms.evaluation.closed_loop import evaluate

    check_range(args.episodes, "--episodes", 1, 10**6)
    check_range(args.workers, "--workers", 1, 256)
    check_range(args.seed, "--seed", 0, 2**63 - 1)
    picture = Path(args.run) / "eval" / f"rollouts-seed{args.seed}.png"
    report = evaluate(
        args.run,
        env=args.env,
        tasks=parse_tasks(args.tasks),
        episodes=args.episodes,
        seed=args.seed,
        workers=args.workers,
        picture=picture,
        trust_remote_code=args.trust_remote_code,
        options=parse_options(args.option),
    )
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"{'policy':<28}{'success':>8}  per task")
    for label, part in (
        ("trained policy", report),
        ("scripted expert", report["expert"]),
        ("instruction hidden", report["language_blind"]),
    ):
        tasks = "  ".join(f"{task} {v['success_rate']:.0%}" for task, v in part["per_task"].items())
        print(f"{label:<28}{part['success_rate']:>8.0%}  {tasks}")
    print(
        f"{report['episodes']} episodes, mean length {report['mean_episode_length']:.1f}, "
        f"{report['step_time_ms']:.1f} ms per policy step; rollouts: {report['picture']}"
    )
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from robovlms.demo.pipeline import DemoSize, run_demo

    size = DemoSize(episodes=args.episodes, eval_episodes=args.eval_episodes, max_steps=args.max_steps)
    summary = run_demo(args.output, size, progress=not args.json)
    if args.json:
        print(json.dumps({k: v for k, v in summary.items() if k != "evaluation"}, indent=2))
    else:
        print(
            f"success rate {summary['success_rate']:.0%} (expert {summary['expert_success_rate']:.0%}, "
            f"instruction hidden {summary['language_blind_success_rate']:.0%}); report: {summary['report']}"
        )
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import logging

    from robovlms.benchmarking import resolve_device
    from robovlms.model.vla import VLA
    from robovlms.serving.server import Limits, PolicyServer

    check_range(args.port, "--port", 0, 65535)
    _address(args.host)
    check_range(args.max_bytes, "--max-bytes", 1024, 2**31)
    limits = Limits(
        max_instruction_chars=check_range(args.max_instruction_chars, "--max-instruction-chars", 1, 10**6),
        max_image_side=check_range(args.max_image_side, "--max-image-side", 16, 65536),
        max_sessions=check_range(args.max_sessions, "--max-sessions", 1, 10**5),
        idle_timeout=float(check_range(args.idle_timeout, "--idle-timeout", 1, 10**7)),
    )
    device = resolve_device(args.device)  # before the load: a missing GPU is reported without waiting for it
    vla = VLA.from_pretrained(args.run, trust_remote_code=args.trust_remote_code).to(device)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    with PolicyServer(vla, host=args.host, port=args.port, max_bytes=args.max_bytes, limits=limits) as server:
        print(f"serving {args.run} on {server.url} (Ctrl-C stops)", flush=True)
        server.serve_forever()
    return 0


def cmd_benchmark(args: argparse.Namespace) -> int:
    from robovlms.benchmarking import Settings, benchmark
    from robovlms.config import load_config

    settings = Settings(
        device=args.device,
        dtype=args.dtype,
        compile=args.compile,
        steps=args.steps,
        train_steps=args.train_steps,
        batch_size=args.batch_size,
    )
    result = benchmark(load_config(args.config), settings)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(
        f"{result['backbone']} + {result['action_head']} ({result['weights']}, {result['history_mode']}, "
        f"window {result['history_length']}) on {args.device} in {args.dtype}\n"
        f"parameters        {result['parameters']:,} ({result['trainable_parameters']:,} trainable)\n"
        f"policy step       cold {result['cold_step_ms']:.1f} ms, p50 {result['step_ms_p50']:.1f} ms, "
        f"p95 {result['step_ms_p95']:.1f} ms, {result['steps_per_s']:.1f} steps/s\n"
        f"head decode       {result['head_decode_ms']:.2f} ms per chunk\n"
        f"chunk execution   {result['model_calls_per_100_steps_chunked']} model calls per 100 steps, "
        f"{result['chunked_steps_per_s']:.1f} steps/s\n"
        f"training          {result['train_samples_per_s']:.2f} samples/s (batch {result['train_batch_size']})\n"
        f"peak memory       inference {_megabytes(result['inference_peak_memory_mb'])}, "
        f"training {_megabytes(result['training_peak_memory_mb'])} ({result['memory_measured_as']})"
    )
    return 0


def _megabytes(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.0f} MB"


def cmd_new_plugin(args: argparse.Namespace) -> int:
    from robovlms.scaffold.generate import new_plugin

    generated = new_plugin(args.name, kind=args.kind, hf_class=args.hf_class, output=args.output)
    print(generated.summary())
    return 0


def build_parser() -> argparse.ArgumentParser:
    from robovlms.scaffold.generate import SCAFFOLDED
    from robovlms.version import __version__

    parser = argparse.ArgumentParser(prog="robovlms", description="Any vision-language model as a robot policy.")
    parser.add_argument("--version", action="version", version=f"robovlms {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    plugins = sub.add_parser("plugins", help="list installed backbone, action-head and environment plugins")
    plugins.add_argument("--json", action="store_true", help="print a JSON array instead of a table")
    plugins.add_argument("--check", action="store_true", help="also load each plugin; exit 1 if any fails")
    plugins.set_defaults(func=cmd_plugins)

    validate = sub.add_parser("validate", help="check a config and print it with defaults filled in")
    validate.add_argument("config", help="path to a JSON config")
    validate.set_defaults(func=cmd_validate)

    dataset = sub.add_parser("dataset", help="make datasets in the LeRobot v3 layout")
    dataset_sub = dataset.add_subparsers(dest="dataset_command", required=True, metavar="ACTION")
    generate = dataset_sub.add_parser(
        "generate", help="record an environment's scripted expert (default: the tabletop)"
    )
    generate.add_argument("out", help="new (or empty) folder to write the dataset to")
    generate.add_argument("--episodes", type=int, required=True, help="number of episodes to record")
    generate.add_argument("--env", default="tabletop", help=ENV_HELP)
    generate.add_argument("--tasks", help="comma-separated tasks to record (default: all of the environment's)")
    generate.add_argument("--seed", type=int, default=0, help="seed of the episode layouts (default 0)")
    generate.add_argument("--image-size", type=int, default=64, help="camera resolution in pixels (default 64)")
    generate.add_argument(
        "--cameras",
        help="comma-separated cameras to record (default: the environment's; the tabletop's observation.image, "
        "above with the arm, observation.images.wrist, a close-up around the effector, observation.images.scene, "
        "above without the arm)",
    )
    generate.add_argument("--video", action="store_true", help="store the cameras as mp4 video features")
    generate.add_argument("--option", action="append", default=[], metavar="KEY=VALUE", help=OPTION_HELP)
    generate.set_defaults(func=cmd_dataset_generate)

    train = sub.add_parser("train", help="train a VLA on a LeRobot v3 dataset")
    train.add_argument("config", help="path to a JSON config")
    train.add_argument("--output", required=True, help="run folder: checkpoints, metrics.jsonl, the final model")
    train.add_argument("--max-steps", type=int, help="stop after this many optimizer steps")
    train.add_argument("--resume", action="store_true", help="continue the run in --output from its last checkpoint")
    train.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key")
    train.add_argument("--no-progress", action="store_true", help="no progress bar")
    train.set_defaults(func=cmd_train)

    evaluate = sub.add_parser("eval", help="run a trained policy in its environment, closed loop")
    evaluate.add_argument("run", help="a folder written by robovlms train (or VLA.save_pretrained)")
    evaluate.add_argument("--env", help="environment to run in (default: the one the run was trained on)")
    evaluate.add_argument("--tasks", help="comma-separated tasks (default: those the run was trained on)")
    evaluate.add_argument("--episodes", type=int, default=10, help="episodes per task (default 10)")
    evaluate.add_argument("--seed", type=int, default=0, help="first episode seed; same seed, same report")
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")
    evaluate.add_argument("--workers", type=int, default=1, help="processes running episodes in parallel")
    evaluate.add_argument("--trust-remote-code", action="store_true", help=TRUST_HELP)
    evaluate.add_argument(
        "--option", action="append", default=[], metavar="KEY=VALUE", help=f"{OPTION_HELP}; default: the run's"
    )
    evaluate.set_defaults(func=cmd_eval)

    demo = sub.add_parser("demo", help="generate data, train a tiny VLA, evaluate it, write a report")
    demo.add_argument("--output", default="robovlms-demo", help="folder for the report (default ./robovlms-demo)")
    demo.add_argument("--json", action="store_true", help="print the summary as JSON")
    demo.add_argument("--episodes", type=int, default=2000, help="expert episodes to train on")
    demo.add_argument("--eval-episodes", type=int, default=20, help="evaluation episodes per task")
    demo.add_argument("--max-steps", type=int, help="cap training steps (for a quick check)")
    demo.set_defaults(func=cmd_demo)

    new = sub.add_parser("new-plugin", help="write a new plugin distribution, ready to install and test")
    new.add_argument("name", help="distribution name, robovlms-<name> (e.g. robovlms-internvl)")
    new.add_argument("--kind", choices=[k.key for k in SCAFFOLDED], default="backbone", help="default backbone")
    new.add_argument("--hf-class", help="transformers VLM class to wrap, e.g. InternVLForConditionalGeneration")
    new.add_argument("--output", default=".", help="folder to create the distribution in (default .)")
    new.set_defaults(func=cmd_new_plugin)

    serve = sub.add_parser("serve", help="serve a trained policy to robots over a websocket")
    serve.add_argument("run", help="a folder written by robovlms train (or VLA.save_pretrained)")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    serve.add_argument("--port", type=int, default=8765, help="port to listen on (default 8765; 0 picks a free one)")
    serve.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="where the model runs (default cpu)")
    serve.add_argument("--max-bytes", type=int, default=16 * 2**20, help="largest message accepted (default 16 MiB)")
    serve.add_argument("--trust-remote-code", action="store_true", help=TRUST_HELP)
    serve.add_argument("--max-instruction-chars", type=int, default=2000, help="longest instruction (default 2000)")
    serve.add_argument("--max-image-side", type=int, default=4096, help="longest frame side in pixels (default 4096)")
    serve.add_argument("--max-sessions", type=int, default=64, help="connections served at once (default 64)")
    serve.add_argument("--idle-timeout", type=int, default=300, help="seconds before a silent session is closed")
    serve.set_defaults(func=cmd_serve)

    bench = sub.add_parser("benchmark", help="measure a VLA's parameters, step latency, throughput and memory")
    bench.add_argument("config", help="path to a JSON config (vlm.preset measures an architecture with random weights)")
    bench.add_argument("--json", action="store_true", help="print one JSON object")
    bench.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="default cpu")
    bench.add_argument("--dtype", choices=("float32", "bfloat16"), default="float32", help="default float32")
    bench.add_argument("--compile", action="store_true", help="torch.compile the towers and the head first")
    bench.add_argument("--steps", type=int, default=30, help="timed policy steps after the window fills (default 30)")
    bench.add_argument("--train-steps", type=int, default=5, help="timed optimizer steps (default 5)")
    bench.add_argument("--batch-size", type=int, default=2, help="windows per training step (default 2)")
    bench.set_defaults(func=cmd_benchmark)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except RoboVLMsError as exc:
        problems = exc.problems if isinstance(exc, ConfigError) else [str(exc)]
        for problem in problems:
            print(f"error: {problem}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
