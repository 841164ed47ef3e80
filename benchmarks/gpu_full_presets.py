"""The device check: ``robovlms benchmark`` on each backbone's ``full`` preset, bf16, on one CUDA GPU.

Prepared to run as one short command on a GPU machine (``python benchmarks/gpu_full_presets.py``);
each backbone runs in its own process with a time limit, so one that runs out of memory or time
is recorded with its error and the others still run. The full architectures are built on the
CPU with random weights first (about a minute per 7B model on 16 cores), then moved.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

BACKBONES = ("paligemma", "llava", "flamingo")


def config(backbone: str) -> dict:
    return {"model": {"backbone": backbone, "action_head": "lstm"}, "vlm": {"preset": "full"}}


def run(backbone: str, folder: Path, timeout: float) -> dict:
    path = folder / f"{backbone}.json"
    path.write_text(json.dumps(config(backbone)))
    command = [sys.executable, "-m", "robovlms", "benchmark", str(path), "--json", "--device", "cuda"]
    command += ["--dtype", "bfloat16", "--steps", "20", "--train-steps", "2", "--batch-size", "1"]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"backbone": backbone, "error": f"timed out after {timeout:.0f} s"}
    if done.returncode != 0:
        return {"backbone": backbone, "error": (done.stderr.strip().splitlines() or ["no output"])[-1]}
    return json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("backbones", nargs="*", default=list(BACKBONES))
    parser.add_argument("--timeout", type=float, default=180, help="seconds per backbone (default 180)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "gpu_full_presets.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        results = [run(backbone, Path(folder), args.timeout) for backbone in args.backbones]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
