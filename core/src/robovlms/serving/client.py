"""The robot's end of ``robovlms serve``: numpy, msgpack and websockets only, no torch.

On the robot computer::

    with PolicyClient("ws://gpu-box:8765") as policy:
        policy.reset()
        while running:
            result = policy.step(camera.read(), "pick up the red block")
            robot.apply(result.action)
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import numpy as np
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
from websockets.sync.client import connect

from robovlms.errors import RoboVLMsError
from robovlms.serving.protocol import DEFAULT_PORT, ProtocolError, decode, encode, pack_array, unpack_array


class ServerError(RoboVLMsError):
    """The server refused a message, closed the session, or did not answer in time."""


@dataclass(frozen=True)
class StepResult:
    """What one ``step`` returns; arrays are float32 in robot units (gripper +1 open, -1 close)."""

    action: np.ndarray
    #: the newest chunk's actions from this step on; row 0 is ``action`` unless chunks are ensembled
    chunk: np.ndarray
    #: index of this step in the episode, counted by the server from the last reset
    step: int
    #: whether the server ran the model for this step (once every ``execute_steps`` steps)
    model_call: bool
    #: milliseconds: ``wait_ms``, ``policy_ms``, ``server_ms`` on the server, ``round_trip_ms`` here
    timing: dict[str, float]


class PolicyClient:
    """One session with a policy server: its own history and chunks, kept on the server."""

    def __init__(self, url: str = f"ws://127.0.0.1:{DEFAULT_PORT}", *, timeout: float = 30.0) -> None:
        self.timeout = timeout
        self._stack = ExitStack()  # websockets wants connect() entered as a context; this object is that context
        try:
            self._connection = self._stack.enter_context(
                connect(url, max_size=None, compression=None, open_timeout=timeout)
            )
        except (OSError, TimeoutError, InvalidURI, InvalidHandshake) as exc:
            raise ServerError(f"cannot connect to a policy server at {url}: {exc}") from None
        #: what the server said about its policy on connect (action_dim, history_length, max_bytes, ...)
        self.info: dict[str, Any] = self._receive("hello")

    def reset(self) -> None:
        """Start a new episode on the server: its history and pending actions are dropped."""
        self._request({"type": "reset"}, "reset")

    def step(
        self, image: np.ndarray | Mapping[str, np.ndarray], instruction: str, state: np.ndarray | None = None
    ) -> StepResult:
        """Send the camera frames (uint8, H x W x 3: one, or a dict by camera with every camera in
        ``info["cameras"]``) and the instruction, and the robot state when the model takes one
        (``info["state_dim"]``); get the action to run now."""
        started = time.perf_counter()
        frames: dict[str, Any] = (
            {"images": {name: pack_array(np.asarray(frame)) for name, frame in image.items()}}
            if isinstance(image, Mapping)
            else {"image": pack_array(np.asarray(image))}
        )
        message = {"type": "step", **frames, "instruction": instruction}
        if state is not None:
            message["state"] = pack_array(np.asarray(state, dtype=np.float32))
        reply = self._request(message, "action")
        timing = {**reply["timing"], "round_trip_ms": (time.perf_counter() - started) * 1e3}
        return StepResult(
            action=unpack_array(reply["action"], "action"),
            chunk=unpack_array(reply["chunk"], "chunk"),
            step=reply["step"],
            model_call=reply["model_call"],
            timing=timing,
        )

    def close(self) -> None:
        self._stack.close()

    def __enter__(self) -> PolicyClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _request(self, message: dict[str, Any], expected: str) -> dict[str, Any]:
        payload = encode(message)
        if len(payload) > self.info["max_bytes"]:
            raise ProtocolError(
                f"message of {len(payload)} bytes exceeds the server's limit of {self.info['max_bytes']}"
            )
        try:
            self._connection.send(payload)
        except ConnectionClosed as exc:
            raise ServerError(f"the policy server closed the session ({exc})") from None
        return self._receive(expected)

    def _receive(self, expected: str) -> dict[str, Any]:
        try:
            reply = decode(self._connection.recv(timeout=self.timeout))
        except TimeoutError:
            self.close()  # a late reply would be taken for the next one's
            raise ServerError(f"no reply from the policy server within {self.timeout} s; session closed") from None
        except ConnectionClosed as exc:
            raise ServerError(f"the policy server closed the session ({exc})") from None
        if reply["type"] == "error":
            raise ServerError(str(reply.get("message")))
        if reply["type"] != expected:
            raise ProtocolError(f"expected a {expected!r} reply, got {reply['type']!r}")
        return reply
