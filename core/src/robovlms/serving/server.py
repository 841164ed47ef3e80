"""``robovlms serve``: one trained VLA, one streaming policy per connected robot.

Each websocket connection is a session with its own :class:`~robovlms.policy.Policy` (history,
feature cache, pending chunk). The model is shared and runs one step at a time under a lock, so
sessions never see each other's state and a GPU never holds two steps' activations at once. A
session lives exactly as long as its connection: a robot that drops mid-episode (or stops
answering pings) takes its history with it, and nothing it sent can stop the other sessions.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import ServerConnection, serve

from robovlms.errors import RoboVLMsError, shown
from robovlms.serving.protocol import (
    DEFAULT_MAX_BYTES,
    DEFAULT_PORT,
    PROTOCOL_VERSION,
    ProtocolError,
    decode,
    encode,
    pack_array,
    unpack_array,
    unpack_images,
)

if TYPE_CHECKING:
    from robovlms.model.policy import Policy
    from robovlms.model.vla import VLA

DEFAULT_HOST = "127.0.0.1"
log = logging.getLogger("robovlms.serve")


@dataclass(frozen=True)
class Limits:
    """What one client may ask of the server, checked before any work is done for it.

    Tokenizing and resizing cost time in proportion to what a client sends; these bounds keep one
    client from stalling the others, and the caps keep idle or excess connections from holding
    sessions.
    """

    #: longest instruction, in characters (a real one is a sentence)
    max_instruction_chars: int = 2000
    #: longest side of a camera frame, in pixels
    max_image_side: int = 4096
    #: connections served at once; more are refused with an error and closed
    max_sessions: int = 64
    #: seconds a session may stay silent before the server closes it
    idle_timeout: float = 300.0

    def check(self, message: dict[str, Any]) -> None:
        """Refuse an oversized step message from its header alone, before decoding or resizing anything."""
        instruction = message.get("instruction")
        if isinstance(instruction, str) and len(instruction) > self.max_instruction_chars:
            raise ProtocolError(
                f"instruction: {len(instruction)} characters; the server takes at most {self.max_instruction_chars}"
            )
        images = message.get("images")
        frames = images if isinstance(images, dict) else {"image": message.get("image")}
        for name, image in frames.items():
            shape = image.get("shape") if isinstance(image, dict) else None
            if isinstance(shape, list) and any(isinstance(n, int) and n > self.max_image_side for n in shape[:2]):
                where = "image" if images is None else f"images[{name!r:.60}]"
                raise ProtocolError(
                    f"{where}: shape {shown(shape)}; the server takes frames of at most "
                    f"{self.max_image_side} pixels a side"
                )


class PolicyServer:
    """Serves ``vla`` on ``ws://host:port``; binds at construction, so ``port=0`` picks a free port."""

    def __init__(
        self,
        vla: VLA,
        *,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        max_bytes: int = DEFAULT_MAX_BYTES,
        limits: Limits = Limits(),
    ) -> None:
        self.vla = vla.eval()
        self.max_bytes = max_bytes
        self.limits = limits
        self._model_lock = threading.Lock()
        self._count_lock = threading.Lock()
        self._open_sessions = 0
        self._thread: threading.Thread | None = None
        # Messages up to twice the limit are read and answered with an error; beyond that the
        # transport drops the connection (close code 1009) rather than buffer arbitrary amounts.
        try:
            self._server = serve(self._handle, host, port, max_size=2 * max_bytes, compression=None)
        except OSError as exc:
            raise RoboVLMsError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
        model = vla.config.model
        self._hello = {
            "type": "hello",
            "protocol": PROTOCOL_VERSION,
            "max_bytes": max_bytes,
            "backbone": model.backbone,
            "action_head": model.action_head,
            "action_dim": model.action_dim,
            "action_chunk_size": model.action_chunk_size,
            "state_dim": model.state_dim,
            "history_length": model.history_length,
            "history_mode": model.history_mode,
            "image_size": vla.backbone.image_processor.size,
            "cameras": [
                {"name": name, "height": size[0] if size else None, "width": size[1] if size else None}
                for name in vla.cameras
                for size in [(vla.camera_sizes or {}).get(name)]
            ],
            "max_instruction_chars": limits.max_instruction_chars,
            "max_image_side": limits.max_image_side,
            "idle_timeout_s": limits.idle_timeout,
            **vla.config.inference.model_dump(),
        }

    @property
    def url(self) -> str:
        host, port = self._server.socket.getsockname()[:2]
        return f"ws://[{host}]:{port}" if ":" in host else f"ws://{host}:{port}"

    @property
    def sessions(self) -> int:
        """Connections with a live policy session."""
        with self._count_lock:
            return self._open_sessions

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def start(self) -> PolicyServer:
        """Serve from a background thread (for tests and for embedding in another program)."""
        self._thread = threading.Thread(target=self.serve_forever, name="robovlms-serve", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop listening, close every session and wait for their threads."""
        self._server.shutdown()
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> PolicyServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- one connection ------------------------------------------------------------------------

    def _handle(self, connection: ServerConnection) -> None:
        try:  # read now: once the peer has gone, its socket can no longer say who it was
            peer = connection.remote_address
        except OSError:
            return
        with self._count_lock:
            admitted = self._open_sessions < self.limits.max_sessions
            self._open_sessions += admitted
        if not admitted:
            log.info("refused %s: %d sessions open", peer, self.limits.max_sessions)
            refusal = f"the server is full ({self.limits.max_sessions} sessions); try again later"
            with contextlib.suppress(ConnectionClosed):
                connection.send(encode({"type": "error", "message": refusal}))
                connection.close(1013, "server full")
            return
        policy = self.vla.policy()
        log.info("session opened for %s", peer)
        try:
            connection.send(encode(self._hello))
            while True:
                try:
                    payload = connection.recv(timeout=self.limits.idle_timeout)
                except TimeoutError:
                    log.info("session of %s idle for %.0f s: closed", peer, self.limits.idle_timeout)
                    connection.close(1001, "idle")
                    break
                connection.send(encode(self._reply(policy, payload)))
        except ConnectionClosed as exc:  # gone mid-episode, or a message beyond the transport limit
            log.info("session of %s ended: %s", peer, exc)
        finally:
            with self._count_lock:
                self._open_sessions -= 1

    def _reply(self, policy: Policy, payload: bytes | str) -> dict[str, Any]:
        """The answer to one message; a bad message costs its sender an error reply, nothing more."""
        received = time.perf_counter()
        try:
            if len(payload) > self.max_bytes:
                raise ProtocolError(
                    f"message of {len(payload)} bytes exceeds the server's limit of {self.max_bytes} bytes"
                )
            message = decode(payload)
            if message["type"] == "reset":
                policy.reset()
                return {"type": "reset"}
            if message["type"] == "step":
                return self._step(policy, message, received)
            raise ProtocolError(f"unknown message type {message['type']!r:.40}; expected 'reset' or 'step'")
        except RoboVLMsError as exc:
            return {"type": "error", "message": str(exc)}
        except Exception as exc:  # a bug must not end the other sessions, nor this one
            log.exception("policy step failed")
            return {"type": "error", "message": f"internal error in the policy server: {type(exc).__name__}: {exc}"}

    def _step(self, policy: Policy, message: dict[str, Any], received: float) -> dict[str, Any]:
        self.limits.check(message)
        observation = {**unpack_images(message), "instruction": message.get("instruction")}
        if message.get("state") is not None:
            observation["state"] = unpack_array(message["state"], "state")
        prepared = policy.prepare(observation)  # this client's resizing and tokenizing: outside the model lock
        with self._model_lock:
            started = time.perf_counter()
            calls = policy.model_calls
            action = policy.step(prepared)
            step, chunk = policy.steps - 1, policy.planned()
            done = time.perf_counter()
        return {
            "type": "action",
            "action": pack_array(action),
            "chunk": pack_array(chunk),
            "step": step,
            "model_call": policy.model_calls > calls,
            "timing": {
                "wait_ms": (started - received) * 1e3,  # decoding and preprocessing, then other sessions' steps
                "policy_ms": (done - started) * 1e3,
                "server_ms": (time.perf_counter() - received) * 1e3,
            },
        }
