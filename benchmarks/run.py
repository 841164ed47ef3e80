"""The benchmark suite: each speed goal of robovlms as a number, all measured in one run.

``nox -s bench`` runs this (or ``python benchmarks/run.py``). It prints every ratio against its
goal and against the previous run, writes ``results/latest.json`` and keeps the run before as
``results/previous.json``. Results are per machine (git ignores them): compare runs on one box.
Misses are reported, not fatal: timings on a loaded machine are noisy, and a goal is read off a
quiet run.
"""

from __future__ import annotations

import argparse
import json
import operator
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import bench_backbones
import bench_cameras
import bench_heads
import bench_plugins
import bench_policy
import bench_serving
import torch

SUITE = {
    "plugins": bench_plugins,
    "policy": bench_policy,
    "cameras": bench_cameras,
    "backbones": bench_backbones,
    "heads": bench_heads,
    "serving": bench_serving,
}
CHECKS = {"<": operator.lt, "<=": operator.le, "==": operator.eq}


def run_suite() -> dict[str, Any]:
    torch.set_num_threads(1)  # tiny models: one thread is fastest and least disturbed by other load
    ratios: dict[str, dict[str, Any]] = {}
    details: dict[str, Any] = {}
    for name, module in SUITE.items():
        measured = module.measure()
        ratios.update(measured["ratios"])
        details[name] = measured["details"]
    for ratio in ratios.values():
        if "goal" in ratio:
            check, bound = ratio["goal"]
            ratio["met"] = bool(CHECKS[check](ratio["value"], bound))
    return {
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
        },
        "ratios": ratios,
        "details": details,
    }


def _number(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def report(result: dict[str, Any], previous: dict[str, Any] | None) -> str:
    before = (previous or {}).get("ratios", {})
    width = max(len(name) for name in result["ratios"])
    lines = [f"{'':<{width}}  {'value':>8}  {'goal':>9}  {'':<6}  {'previous':>8}"]
    for name, ratio in result["ratios"].items():
        goal = " ".join(_number(part) for part in ratio["goal"]) if "goal" in ratio else "-"
        verdict = {True: "ok", False: "MISSED"}.get(ratio.get("met"), "")
        last = _number(before[name]["value"]) if name in before else "-"
        lines.append(f"{name:<{width}}  {_number(ratio['value']):>8}  {goal:>9}  {verdict:<6}  {last:>8}")
    missed = [name for name, ratio in result["ratios"].items() if ratio.get("met") is False]
    lines.append(f"{len(missed)} goal(s) missed" + (f": {', '.join(missed)}" if missed else ""))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results", help="folder for the JSON")
    args = parser.parse_args(argv)
    latest, previous_path = args.out / "latest.json", args.out / "previous.json"
    previous = json.loads(latest.read_text()) if latest.is_file() else None
    result = run_suite()
    print(report(result, previous))
    args.out.mkdir(parents=True, exist_ok=True)
    if previous is not None:
        previous_path.write_text(json.dumps(previous, indent=2))
    latest.write_text(json.dumps(result, indent=2))
    print(f"results: {latest}" + (f" (previous run: {previous_path})" if previous else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
