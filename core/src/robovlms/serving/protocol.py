"""The wire format shared by server and client: msgpack maps over binary websocket frames.

Frames travel as raw bytes with their shape and dtype beside them (a 224x224 camera frame is
150 KB, against 200 KB as base64 JSON plus the encoding time on both ends). Every message is a
map with a ``type``:

- client to server: ``{"type": "reset"}``; ``{"type": "step", "images": {camera: ARRAY}, "instruction":
  str}`` (``"image": ARRAY`` in place of ``images`` for a one-camera model), with ``"state": ARRAY``
  (float32) as well for a model that takes the robot state
- server to client: ``hello`` (once, on connect: what the policy expects, its ``cameras`` with
  each one's ``name``, ``height`` and ``width`` included), ``reset``, ``action``
  (``action``, ``chunk``, ``step``, ``model_call``, ``timing``), ``error`` (``message``)

An ARRAY is ``{"shape": [...], "dtype": "uint8" | "float32", "data": bytes}``. This module needs
numpy and msgpack only: the robot side must not need torch.
"""

from __future__ import annotations

import math
from typing import Any

import msgpack
import numpy as np

from robovlms.errors import RoboVLMsError

PROTOCOL_VERSION = 1
DEFAULT_PORT = 8765
#: largest message the server handles; a 1080p RGB frame is 6.2 MB
DEFAULT_MAX_BYTES = 16 * 2**20
#: dtypes an ARRAY may carry: camera frames in, actions out
DTYPES = ("uint8", "float32")


class ProtocolError(RoboVLMsError):
    """A message that does not follow the protocol; the server replies with it and keeps the session."""


def pack_array(array: np.ndarray) -> dict[str, Any]:
    array = np.ascontiguousarray(array)
    if array.dtype.name not in DTYPES:
        raise ProtocolError(f"arrays travel as {' or '.join(DTYPES)}, got {array.dtype}")
    return {"shape": list(array.shape), "dtype": array.dtype.name, "data": array.tobytes()}


def unpack_array(value: Any, name: str) -> np.ndarray:
    """A writable array from an ARRAY map, each inconsistency a one-line :class:`ProtocolError`."""
    if not isinstance(value, dict) or not {"shape", "dtype", "data"} <= value.keys():
        raise ProtocolError(f"{name}: expected a map with shape, dtype and data (raw bytes)")
    shape, dtype, data = value["shape"], value["dtype"], value["data"]
    if not isinstance(shape, list) or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape):
        raise ProtocolError(f"{name}: shape must be a list of non-negative ints, got {shape!r:.60}")
    if dtype not in DTYPES:
        raise ProtocolError(f"{name}: dtype must be one of {', '.join(DTYPES)}, got {dtype!r:.30}")
    if not isinstance(data, bytes):
        raise ProtocolError(f"{name}: data must be raw bytes (msgpack bin), got {type(data).__name__}")
    expected = math.prod(shape) * np.dtype(dtype).itemsize
    if len(data) != expected:
        raise ProtocolError(f"{name}: {len(data)} bytes of data for shape {tuple(shape)} {dtype} ({expected} bytes)")
    return np.frombuffer(data, dtype=dtype).reshape(shape).copy()  # frombuffer is read-only; torch wants to own it


def unpack_images(message: dict[str, Any]) -> dict[str, Any]:
    """The frames of a step message as an observation's ``images`` (or ``image``) entry."""
    if "images" not in message:
        return {"image": unpack_array(message.get("image"), "image")}
    images = message["images"]
    if not isinstance(images, dict) or not all(isinstance(name, str) for name in images):
        raise ProtocolError("images: expected a map of camera names to ARRAY maps")
    return {"images": {name: unpack_array(value, f"images[{name!r:.60}]") for name, value in images.items()}}


def encode(message: dict[str, Any]) -> bytes:
    return msgpack.packb(message, use_bin_type=True)


def decode(payload: bytes | str) -> dict[str, Any]:
    """A message map from one websocket frame; anything else is a :class:`ProtocolError`."""
    if isinstance(payload, str):
        raise ProtocolError("expected a binary frame holding a msgpack map, got a text frame")
    try:
        message = msgpack.unpackb(payload, raw=False, strict_map_key=True)
    except (ValueError, TypeError) as exc:  # msgpack's errors are ValueErrors; unhashable keys TypeErrors
        raise ProtocolError(f"not a msgpack message ({type(exc).__name__})") from None
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        raise ProtocolError("expected a msgpack map with a string 'type'")
    return message
