"""The server under a hostile neighbour: one client's p95 step latency alone, and while another client
sends the largest instruction and frame the server accepts, over and over.

Both clients talk to one ``robovlms serve`` (tiny PaliGemma, LSTM head) on loopback. The neighbour's
frames are the largest the default limits let through (a square frame just under ``max_bytes``);
its resizing and tokenizing run outside the model lock, so the well-behaved client waits for model
steps, not for them.
"""

from __future__ import annotations

import math
import threading

import numpy as np

from robovlms import build_vla
from robovlms.serving.client import PolicyClient
from robovlms.serving.protocol import DEFAULT_MAX_BYTES
from robovlms.serving.server import Limits, PolicyServer

STEPS = 60


def _p95(client: PolicyClient, frame: np.ndarray) -> float:
    client.reset()
    times = []
    for _ in range(STEPS):
        times.append(client.step(frame, "pick up the red block").timing["round_trip_ms"])
    return float(np.percentile(times[5:], 95))


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
    large = np.random.default_rng(0).integers(0, 256, (side, side, 3), dtype=np.uint8)
    longest = ("pick up the red block " * 200)[: limits.max_instruction_chars]
    frame = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    with PolicyServer(vla, port=0, limits=limits).start() as server, PolicyClient(server.url) as good:
        alone = _p95(good, frame)
        stop, sent = threading.Event(), [0]

        def neighbour() -> None:
            with PolicyClient(server.url, timeout=120) as hostile:
                hostile.reset()
                while not stop.is_set():
                    hostile.step(large, longest)
                    sent[0] += 1

        thread = threading.Thread(target=neighbour, daemon=True)
        thread.start()
        loaded = _p95(good, frame)
        stop.set()
        thread.join()
    return {
        "ratios": {"serving p95, beside the largest allowed requests / alone": {"value": loaded / alone}},
        "details": {
            "alone_p95_ms": alone,
            "beside_neighbour_p95_ms": loaded,
            "neighbour_frame": [side, side, 3],
            "neighbour_instruction_chars": len(longest),
            "neighbour_requests": sent[0],
        },
    }
