"""The server under a hostile neighbour: one client's p95 step latency alone, and while another client
sends the largest instruction and frame the server accepts, over and over.

Both clients talk to one ``robovlms serve`` (tiny PaliGemma, LSTM head) on loopback. The neighbour's
frames are the largest the default limits let through (a square frame just under ``max_bytes``);
its resizing and tokenizing run outside the model lock, so the well-behaved client waits for model
steps, not for them.
"""

from __future__ import annotations

import math
import multiprocessing
import time
from typing import Any

import numpy as np

from robovlms import build_vla
from robovlms.serving.client import PolicyClient
from robovlms.serving.protocol import DEFAULT_MAX_BYTES
from robovlms.serving.server import Limits, PolicyServer

STEPS = 400


def _p95(client: PolicyClient, frame: np.ndarray) -> float:
    client.reset()
    times = []
    for _ in range(STEPS):
        times.append(client.step(frame, "pick up the red block").timing["round_trip_ms"])
    return float(np.percentile(times[5:], 95))


def _neighbour(url: str, side: int, instruction: str, stop: Any, sent: Any) -> None:
    """The hostile client: the largest frame and instruction the limits let through, as fast as it can."""
    large = np.random.default_rng(0).integers(0, 256, (side, side, 3), dtype=np.uint8)
    with PolicyClient(url, timeout=120) as hostile:
        hostile.reset()
        while not stop.is_set():
            hostile.step(large, instruction)
            with sent.get_lock():
                sent.value += 1


def measure() -> dict[str, object]:
    vla = build_vla(
        {
            "model": {"backbone": "paligemma", "action_head": "lstm", "history_length": 4, "action_chunk_size": 4},
            "action_head": {"hidden_size": 64, "num_layers": 1},
            "vlm": {"preset": "tiny"},
        }
    )
    limits = Limits()
    side = min(limits.max_image_side, math.isqrt((DEFAULT_MAX_BYTES - 64 * 1024) // 3))
    longest = ("pick up the red block " * 200)[: limits.max_instruction_chars]
    frame = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    context = multiprocessing.get_context("spawn")  # a robot elsewhere: its own process, its own interpreter
    stop, sent = context.Event(), context.Value("i", 0)
    with PolicyServer(vla, port=0, limits=limits).start() as server, PolicyClient(server.url) as good:
        alone = _p95(good, frame)
        neighbour = context.Process(target=_neighbour, args=(server.url, side, longest, stop, sent), daemon=True)
        neighbour.start()
        while sent.value < 1:  # the neighbour's requests are under way before the timing starts
            time.sleep(0.01)
        before = sent.value
        loaded = _p95(good, frame)
        during = sent.value - before
        stop.set()
        neighbour.join(timeout=120)
    return {
        "ratios": {"serving p95, beside the largest allowed requests / alone": {"value": loaded / alone}},
        "details": {
            "alone_p95_ms": alone,
            "beside_neighbour_p95_ms": loaded,
            "neighbour_frame": [side, side, 3],
            "neighbour_instruction_chars": len(longest),
            "neighbour_requests_during_timing": during,
        },
    }
