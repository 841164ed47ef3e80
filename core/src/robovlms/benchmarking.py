"""``robovlms benchmark``: speed and memory of one VLA, measured the way a robot and a trainer use it.

Presets need no download, so ``full`` architectures are measured with random weights: speed and
memory depend on shapes, not on weight values. Inference runs the streaming policy on frames at
the backbone's own resolution: first the cold first step (lazy initialisation, compilation,
allocator growth), then the window is filled and the steady-state steps are timed, since that is
what a robot loop sees. Training times optimizer steps on synthetic windows of the config's shape.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial
from typing import Any

import numpy as np
import torch

from robovlms.config import Config
from robovlms.errors import RoboVLMsError
from robovlms.model.vla import VLA, build_vla
from robovlms.training.optim import make_optimizer
from robovlms.training.trainer import precision_autocast

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}
INSTRUCTION = "pick up the red block"


@dataclass(frozen=True)
class Settings:
    device: str = "cpu"
    dtype: str = "float32"
    compile: bool = False
    #: timed policy steps once the history window is full
    steps: int = 30
    #: timed optimizer steps after one untimed warm-up step
    train_steps: int = 5
    batch_size: int = 2


def resolve_device(name: str) -> torch.device:
    """``cpu`` or ``cuda``, refusing a GPU that torch cannot see with one line that says why."""
    if name == "cpu":
        return torch.device("cpu")
    if name != "cuda":
        raise RoboVLMsError(f"--device: expected cpu or cuda, got {name!r}")
    if not torch.cuda.is_available():
        build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "CPU only"
        raise RoboVLMsError(f"--device cuda: torch {torch.__version__} ({build}) sees no CUDA GPU on this machine")
    return torch.device("cuda")


def benchmark(config: Config, settings: Settings) -> dict[str, Any]:
    """One flat JSON-ready dict: what was measured, then parameters, latency, throughput and memory."""
    device = resolve_device(settings.device)
    if settings.dtype not in DTYPES:
        raise RoboVLMsError(f"--dtype: expected {' or '.join(DTYPES)}, got {settings.dtype!r}")
    if min(settings.steps, settings.train_steps, settings.batch_size) < 1:
        raise RoboVLMsError("--steps, --train-steps and --batch-size must be at least 1")
    vla = build_vla(config).to(device)
    model = config.model
    result: dict[str, Any] = {
        "backbone": model.backbone,
        "action_head": model.action_head,
        "weights": config.vlm.model_name or f"preset {config.vlm.preset or 'default'}",
        "history_mode": model.history_mode,
        "history_length": model.history_length,
        "action_chunk_size": model.action_chunk_size,
        "frame_size": vla.backbone.image_processor.size,
        **asdict(settings),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "parameters": sum(p.numel() for p in vla.parameters()),
        "trainable_parameters": sum(p.numel() for p in vla.parameters() if p.requires_grad),
    }
    if settings.compile:
        compile_vla(vla)
    # inference runs on weights cast to the dtype; training keeps float32 weights under autocast,
    # as training.precision = bf16 does
    _reset_peak(device)
    result.update(_inference(vla.to(DTYPES[settings.dtype]), settings, device))
    result["head_decode_ms"] = head_decode_seconds(vla, device, settings.steps) * 1e3
    result["inference_peak_memory_mb"] = _peak_mb(device)
    result.update(_training(vla.float(), settings, device))
    result["training_peak_memory_mb"] = _peak_mb(device)
    result["memory_measured_as"] = "torch.cuda.max_memory_allocated" if device.type == "cuda" else "peak process RSS"
    return result


def compile_vla(vla: VLA) -> None:
    """``torch.compile`` the language-model pass, the image encoder and the head, in place.

    The methods, not the towers: plugins reach their language model in their own ways (PaliGemma
    calls its ``PaliGemmaModel``, not ``text_tower``), but every history mode goes through these.
    """
    backbone = vla.backbone
    for method in ("forward_text", "model_encode_images"):  # compiled bound methods replace the instance's own
        setattr(backbone, method, torch.compile(getattr(backbone, method)))
    vla.head.compile()


def _inference(vla: VLA, settings: Settings, device: torch.device) -> dict[str, Any]:
    model = vla.config.model
    window, chunk = model.history_length, model.action_chunk_size
    frames = _frames(window + settings.steps, vla.backbone.image_processor.size)
    state = {"state": np.zeros(model.state_dim, np.float32)} if model.state_dim else {}

    def observation(frame: np.ndarray) -> dict[str, Any]:  # the same frame from every camera
        return {"images": dict.fromkeys(vla.cameras, frame), "instruction": INSTRUCTION, **state}

    policy = vla.policy()
    policy.reset()
    cold = _timed(lambda: policy.step(observation(frames[0])), device)
    for frame in frames[1:window]:  # fill the window, untimed
        policy.step(observation(frame))
    steady = [_timed(partial(policy.step, observation(f)), device) for f in frames[window:]]
    chunked = vla.policy(execute_steps=chunk)
    control = [frames[i % len(frames)] for i in range(100)]

    def episode(length: int) -> None:
        chunked.reset()
        for frame in control[:length]:
            chunked.step(observation(frame))

    episode(2 * chunk)  # untimed: later calls encode `chunk` new frames at once, a shape the first call never had
    chunked.model_calls = 0
    elapsed = _timed(lambda: episode(100), device)
    return {
        "execute_steps": policy.settings.execute_steps,
        "cold_step_ms": cold * 1e3,
        "step_ms_p50": float(np.percentile(steady, 50) * 1e3),
        "step_ms_p95": float(np.percentile(steady, 95) * 1e3),
        "steps_per_s": 1 / statistics.fmean(steady),
        "model_calls_per_100_steps_chunked": chunked.model_calls,
        "chunked_steps_per_s": 100 / elapsed,
    }


@torch.inference_mode()
def head_decode_seconds(vla: VLA, device: torch.device, repeat: int = 30) -> float:
    """Median seconds from a full window's action-token features to the newest frame's decoded chunk.

    The part of a policy step that is the head's alone: a flow-matching head integrates its
    ``num_inference_steps`` here, a regression head runs once.
    """
    model = vla.config.model
    frames = 1 if model.history_mode == "one_step" else model.history_length
    dtype = vla.action_tokens.dtype
    features = torch.randn(1, frames, model.num_action_tokens, vla.backbone.hidden_size, device=device, dtype=dtype)
    mask = torch.ones(1, frames, dtype=torch.bool, device=device)
    generator = torch.Generator(device=device).manual_seed(0)
    times = [
        _timed(lambda: vla.decode(vla.head(features, mask)[:, -1:], generator=generator), device) for _ in range(repeat)
    ]
    return statistics.median(times)


def _training(vla: VLA, settings: Settings, device: torch.device) -> dict[str, Any]:
    model = vla.config.model
    b, t, size = settings.batch_size, model.history_length, vla.backbone.image_processor.size
    rng = np.random.default_rng(0)
    actions = rng.uniform(-1, 1, (b, t, model.action_chunk_size, model.action_dim)).astype(np.float32)
    actions[..., -1] = np.sign(actions[..., -1])
    batch = {  # frames stay on the CPU and are moved after preprocessing, as the policy does
        "images": dict.fromkeys(vla.cameras, torch.from_numpy(_frames(b * t, size).reshape(b, t, size, size, 3))),
        "instructions": [INSTRUCTION] * b,
        "actions": torch.from_numpy(actions).to(device),
    }
    if model.state_dim:
        batch["states"] = torch.zeros(b, t, model.state_dim, device=device)
    optimizer = make_optimizer(vla, vla.config.training)
    precision = {"float32": "fp32", "bfloat16": "bf16"}[settings.dtype]  # the training.precision it measures
    vla.train()

    def step() -> None:
        with precision_autocast(precision, device):
            loss = vla(**batch)["loss"]
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    _timed(step, device)  # the first step allocates optimizer state and (with --compile) compiles backward

    def steps() -> None:
        for _ in range(settings.train_steps):
            step()

    elapsed = _timed(steps, device)
    vla.eval()
    return {"train_batch_size": b, "train_samples_per_s": b * settings.train_steps / elapsed}


def _frames(count: int, size: int) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (count, size, size, 3), dtype=np.uint8)


def _timed(fn: Callable[[], object], device: torch.device) -> float:
    """Seconds ``fn`` takes, with the GPU's queued work included."""
    _sync(device)
    start = time.perf_counter()
    fn()
    _sync(device)
    return time.perf_counter() - start


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def _peak_mb(device: torch.device) -> float | None:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    try:
        import resource
    except ImportError:  # Windows has no getrusage
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes on macOS, KiB on Linux
