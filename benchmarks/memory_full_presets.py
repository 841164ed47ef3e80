"""What a real-size model costs in memory, measured on a CPU: ``nox -s memory`` runs this file.

For each installed backbone, in a process of its own (so that one model's peak is not another's):

1. the parameters of its ``full`` preset, counted on the meta device (no memory), per FSDP unit;
2. where the model fits in ``--budget-gib``: the peak resident memory of one training step in
   bf16 with LoRA and gradient checkpointing, the way a 24 GiB machine trains it (weights built
   in bfloat16, batch of one window); the growth over the built model is the step's activations;
3. a projection per GPU of full fine-tuning under FSDP on 1, 2, 4 and 8 GPUs: float32 parameter
   shards, gradients and Adam's two moments (16 bytes per parameter, divided by the GPUs), the
   bf16 blocks FSDP gathers at once (the root unit, the block computing, the one prefetched and one
   block's unsharded gradient), and the measured activations of one window.

``--check`` measures a small case on two gloo processes: the per-rank bytes of the sharded
parameters, gradients and Adam state of the ``tiny`` preset after one FSDP step, against what the
same projection says for it. JSON goes to ``results/memory_full_presets.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

GIB = 2**30
GPUS = (1, 2, 4, 8)
#: float32 parameter shard, gradient, Adam's exp_avg and exp_avg_sq
STATE_BYTES = 16


def config(backbone: str, preset: str, image_size: int | None = None, **training: Any) -> dict[str, Any]:
    return {
        "model": {"backbone": backbone, "action_head": "mlp", "history_mode": "one_step", "history_length": 1},
        "vlm": {"preset": preset, **({"image_size": image_size} if image_size else {})},
        "training": {"precision": "bf16", **training},
    }


def installed_backbones() -> list[str]:
    """The backbones whose plugins are healthy, from entry-point metadata (nothing is imported)."""
    from robovlms.plugins.discovery import discover

    return sorted(info.name for info in discover("backbone") if not info.problem)


def _rss() -> int:
    import psutil

    return psutil.Process().memory_info().rss


def _reset_peak() -> None:
    """Start a new high-water mark (Linux: VmHWM), so a step's peak is not the model build's."""
    Path("/proc/self/clear_refs").write_text("5")


def _peak() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def units(vla: Any) -> dict[str, int]:
    """Parameters in all, in the root FSDP unit (outside every sharded block) and in the largest block."""
    from robovlms.training.distributed import shard_units

    blocks = shard_units(vla)
    in_blocks = {id(p) for block in blocks for p in block.parameters()}
    return {
        "parameters": sum(p.numel() for p in vla.parameters()),
        "root_unit_parameters": sum(p.numel() for p in vla.parameters() if id(p) not in in_blocks),
        "largest_block_parameters": max((sum(p.numel() for p in b.parameters()) for b in blocks), default=0),
    }


def project(counts: dict[str, int], activations: int | None, gpus: int) -> dict[str, float | None]:
    """GiB per GPU for full fine-tuning under FSDP with bf16 compute on ``gpus`` GPUs."""
    states = STATE_BYTES * counts["parameters"] / gpus
    gathered = 2 * (counts["root_unit_parameters"] + 3 * counts["largest_block_parameters"]) if gpus > 1 else 0
    total = states + gathered + activations if activations is not None else None
    return {
        "states_gib": states / GIB,
        "gathered_gib": gathered / GIB,
        "activations_gib": activations / GIB if activations is not None else None,
        "total_gib": total / GIB if total is not None else None,
    }


def measure(backbone: str, preset: str, budget_gib: float, image_size: int | None = None) -> dict[str, Any]:
    """One backbone, in this process: parameters, then one LoRA + checkpointing bf16 step if it fits.

    The counts are printed as soon as they are known, so a step cut off by the time limit still reports them.
    """
    import torch

    from robovlms import build_vla, load_config
    from robovlms.benchmarking import synthetic_batch
    from robovlms.training.optim import make_optimizer
    from robovlms.training.trainer import precision_autocast

    # an initialiser that looks at values (IDEFICS's nonzero) gets meta's stand-in; only shapes are counted
    torch.fx.experimental._config.meta_nonzero_assume_all_nonzero = True
    with torch.device("meta"):  # the architecture as full fine-tuning trains it: no adapters
        counts = units(build_vla(load_config(config(backbone, preset))))
    settings = load_config(config(backbone, preset, image_size, lora_rank=8, gradient_checkpointing=True))
    result: dict[str, Any] = {"backbone": backbone, "preset": preset, "image_size": image_size, **counts}
    weights = 2 * counts["parameters"]
    result["bf16_weights_gib"] = weights / GIB
    print(json.dumps(result), flush=True)
    if weights > 0.8 * budget_gib * GIB:
        result["step"] = f"not run: its bf16 weights alone take {weights / GIB:.1f} of the {budget_gib:g} GiB budget"
        return result
    torch.set_default_dtype(torch.bfloat16)
    start = time.perf_counter()
    vla = build_vla(settings).train()
    built = time.perf_counter()
    optimizer = make_optimizer(vla, settings.training)
    batch = synthetic_batch(vla, 1, torch.device("cpu"))
    resident = _rss()
    _reset_peak()
    with precision_autocast("bf16", torch.device("cpu")):
        loss = vla(**batch)["loss"]
    loss.backward()
    optimizer.step()
    peak = _peak()
    result.update(
        trainable_parameters=sum(p.numel() for p in vla.parameters() if p.requires_grad),
        build_s=built - start,
        step_s=time.perf_counter() - built,
        resident_before_step_gib=resident / GIB,
        peak_resident_gib=peak / GIB,
        step_growth_gib=(peak - resident) / GIB,
    )
    return result


def with_projection(result: dict[str, Any]) -> dict[str, Any]:
    """The projection, with the step's activations: its growth less the trainable parameters' own state.

    The LoRA step trains the adapters, the head and the (unfrozen) embeddings: their gradients and
    Adam's two moments, in the weights' bfloat16, are states the projection already counts.
    """
    growth = result.get("step_growth_gib")
    activations = None
    if growth is not None:
        activations = max(0, int(growth * GIB) - 3 * 2 * result["trainable_parameters"])
        result["activations_gib"] = activations / GIB
    result["fsdp_full_finetune_per_gpu"] = {str(n): project(result, activations, n) for n in GPUS}
    return result


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _sharded_rank() -> None:
    """One rank of ``--check``: a full fine-tuning step of ``tiny`` under FSDP, then this rank's state bytes."""
    import torch
    import torch.distributed as dist

    from robovlms import build_vla, load_config
    from robovlms.benchmarking import synthetic_batch
    from robovlms.training import distributed
    from robovlms.training.optim import make_optimizer

    world = distributed.setup()
    torch.manual_seed(0)
    settings = load_config(config("paligemma", "tiny", precision="fp32", freeze_vision_tower=False))
    vla = build_vla(settings).train()
    counts = units(vla)
    model = distributed.wrap(vla, world, "fsdp")
    optimizer = make_optimizer(vla, settings.training)
    model(**synthetic_batch(vla, 2, world.device))["loss"].backward()
    optimizer.step()

    def local(tensor: torch.Tensor) -> int:
        tensor = tensor.to_local() if hasattr(tensor, "to_local") else tensor
        return tensor.numel() * tensor.element_size()

    held = sum(local(p) + (local(p.grad) if p.grad is not None else 0) for p in vla.parameters())
    held += sum(local(v) for state in optimizer.state.values() for v in state.values() if v.ndim > 0)
    every: list[int] = [0] * world.size
    dist.all_gather_object(every, held)
    if world.main:
        projected = project(counts, 0, world.size)["states_gib"]
        print(json.dumps({**counts, "ranks": world.size, "measured_state_bytes_per_rank": every,
                          "projected_state_bytes_per_rank": projected * GIB}))  # fmt: skip
    distributed.teardown(world)


def check() -> dict[str, Any]:
    """The projection's sharded states against a measured FSDP step on two gloo processes."""
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_addr=127.0.0.1",
        f"--master_port={_free_port()}", __file__, "--sharded-rank",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    if done.returncode != 0:
        raise SystemExit(f"--check failed: {(done.stderr.strip().splitlines() or ['no output'])[-1]}")
    measured = json.loads(done.stdout.strip().splitlines()[-1])
    measured["ratio"] = max(measured["measured_state_bytes_per_rank"]) / measured["projected_state_bytes_per_rank"]
    return measured


def table(results: list[dict[str, Any]]) -> str:
    lines = [f"{'backbone':<10} {'params':>8} {'LoRA step peak':>15} " + " ".join(f"{f'{n} GPU':>9}" for n in GPUS)]
    for r in results:
        peak = f"{r['peak_resident_gib']:.1f} GiB" if "peak_resident_gib" in r else "not run"
        cells = []
        for n in GPUS:
            p = r["fsdp_full_finetune_per_gpu"][str(n)]
            total = p["total_gib"] if p["total_gib"] is not None else p["states_gib"] + p["gathered_gib"]
            cells.append(f"{total:>8.1f}{'' if p['total_gib'] is not None else '+'}")
        lines.append(f"{r['backbone']:<10} {r['parameters'] / 1e9:>7.2f}B {peak:>15} " + " ".join(cells))
    lines.append("per-GPU GiB for full fine-tuning under FSDP; '+': activations not measured (did not fit)")
    return "\n".join(lines)


def run(backbone: str, args: argparse.Namespace) -> dict[str, Any]:
    """One backbone in a child process; past ``--timeout`` it keeps the counts and says the step did not finish."""
    command = [
        sys.executable,
        __file__,
        "--one",
        backbone,
        "--preset",
        args.preset,
        "--budget-gib",
        str(args.budget_gib),
        *(["--image-size", str(args.image_size)] if args.image_size else []),
    ]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=args.timeout)
        lines, error = (
            done.stdout,
            f"exit {done.returncode}: {(done.stderr.strip().splitlines() or ['no output'])[-1]}"
            if done.returncode
            else None,
        )
    except subprocess.TimeoutExpired as expired:
        out = expired.stdout or b""
        lines = out.decode() if isinstance(out, bytes) else out
        error = f"the step did not finish in {args.timeout:.0f} s"
    found = [json.loads(line) for line in lines.splitlines() if line.startswith("{")]
    if not found:
        return {"backbone": backbone, "error": error}
    result = with_projection(found[-1])
    if error:
        result["step"] = f"not run: {error}"
    print(json.dumps(result), flush=True)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("backbones", nargs="*", help="default: every installed backbone")
    parser.add_argument("--preset", default="full")
    parser.add_argument("--budget-gib", type=float, default=20.0, help="largest model to build (default 20)")
    parser.add_argument(
        "--image-size", type=int, help="frame size of the measured step (default: the preset's); fewer image tokens"
    )
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per backbone (default 3600)")
    parser.add_argument("--check", action="store_true", help="also measure the sharded small case")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "memory_full_presets.json")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # the per-backbone child
    parser.add_argument("--sharded-rank", action="store_true", help=argparse.SUPPRESS)  # a rank of --check
    args = parser.parse_args(argv)
    if args.sharded_rank:
        _sharded_rank()
        return 0
    if args.one:
        print(json.dumps(measure(args.one, args.preset, args.budget_gib, args.image_size)))
        return 0
    results = [run(backbone, args) for backbone in args.backbones or installed_backbones()]
    report: dict[str, Any] = {"results": results}
    if args.check:
        report["check"] = check()
        print(json.dumps(report["check"]))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(table([r for r in results if "error" not in r]))
    return 1 if any("error" in r for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
