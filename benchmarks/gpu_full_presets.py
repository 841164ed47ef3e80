"""The device check: a few bf16 training steps and the policy step of each backbone's ``full`` preset on one GPU.

Prepared to run as one short command on a GPU machine (``python benchmarks/gpu_full_presets.py``,
PaliGemma by default; name more backbones to add them). Each backbone runs ``robovlms benchmark``
in its own process with a time limit, so one that runs out of memory or time is recorded with its
error and the others still run. The full architectures are built on the CPU with random weights
first (about a minute per 3B model on 16 cores), then moved.

Reported per backbone: training step time, tokens per second through the language model, peak
GPU memory, model FLOP utilisation against the device's dense bf16 peak, and the policy's step
latency. MFU uses the usual ``6 x parameters x tokens`` for a training step (forward and backward,
attention's quadratic term left out), so it is comparable with published MFU figures.
``--device cpu --preset tiny --head gpt`` runs the same path on a CPU (the smoke test does; oneDNN
has no bf16 LSTM); MFU is then omitted, as a CPU has no entry in the table of peaks.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

#: dense bf16 tensor-core peaks (FLOP/s, no sparsity) by a substring of torch.cuda.get_device_name()
BF16_PEAKS = {
    "H200": 989e12,
    "H100": 989e12,  # SXM; the PCIe card's 756 TFLOPS is matched first below
    "A100": 312e12,
    "L40S": 362e12,
    "L4": 121e12,
    "A10G": 70e12,
}
PCIE_PEAKS = {"H100 PCIe": 756e12}


def bf16_peak(device_name: str) -> float | None:
    for table in (PCIE_PEAKS, BF16_PEAKS):
        for key, peak in table.items():
            if key in device_name:
                return peak
    return None


def config(backbone: str, args: argparse.Namespace) -> dict:
    window = {"history_length": args.history_length} if args.history_length else {}
    return {
        "model": {"backbone": backbone, "action_head": args.head, **window},
        "vlm": {"preset": args.preset},
        "training": {"precision": "bf16"},
    }


def summary(result: dict[str, Any]) -> dict[str, Any]:
    """The figures the device check is for, beside everything ``robovlms benchmark`` measured."""
    peak = bf16_peak(result["device_name"])
    flops = 6 * result["parameters"] * result["train_tokens_per_s"]
    return {
        "backbone": result["backbone"],
        "device_name": result["device_name"],
        "train_step_ms": result["train_step_ms"],
        "train_tokens_per_s": result["train_tokens_per_s"],
        "train_peak_memory_mb": result["training_peak_memory_mb"],
        "model_tflops_per_s": flops / 1e12,
        "mfu": flops / peak if peak else None,
        "policy_step_ms_p50": result["step_ms_p50"],
        "policy_step_ms_p95": result["step_ms_p95"],
        "details": result,
    }


def run(backbone: str, args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    path = folder / f"{backbone}.json"
    path.write_text(json.dumps(config(backbone, args)))
    command = [sys.executable, "-m", "robovlms", "benchmark", str(path), "--json", "--device", args.device]
    command += ["--dtype", "bfloat16", "--steps", str(args.policy_steps), "--train-steps", str(args.train_steps)]
    command += ["--batch-size", str(args.batch_size)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=args.timeout)
    except subprocess.TimeoutExpired:
        return {"backbone": backbone, "error": f"timed out after {args.timeout:.0f} s"}
    if done.returncode != 0:
        return {"backbone": backbone, "error": (done.stderr.strip().splitlines() or ["no output"])[-1]}
    return summary(json.loads(done.stdout))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("backbones", nargs="*", default=["paligemma"])
    parser.add_argument("--device", default="cuda", help="cuda (default), or cpu for the smoke test")
    parser.add_argument("--preset", default="full")
    parser.add_argument("--head", default="lstm", help="action head (default lstm; a CPU has no bf16 LSTM: use gpt)")
    parser.add_argument("--history-length", type=int, help="frames per window (default: the config's)")
    parser.add_argument("--train-steps", type=int, default=5, help="timed optimizer steps (default 5)")
    parser.add_argument("--policy-steps", type=int, default=20, help="timed policy steps (default 20)")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--timeout", type=float, default=300, help="seconds per backbone (default 300)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "gpu_full_presets.json")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        results = [run(backbone, args, Path(folder)) for backbone in args.backbones]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    for result in results:
        shown = {k: v for k, v in result.items() if k != "details"}
        print(json.dumps(shown))
    return 1 if any("error" in result for result in results) else 0


if __name__ == "__main__":
    sys.exit(main())
