"""Video features (mp4 under ``videos/``), through PyAV from the optional ``video`` extra.

LeRobot stores camera streams as one mp4 per data file, each episode a span of it; PyAV is
imported only when such a feature is used, so image-only datasets need nothing beyond pyarrow.
Frames are written in H.264 with full chroma at crf 0 so what is read back is what was recorded,
up to the rounding of the RGB to YUV conversion.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from robovlms.errors import DatasetError, first_line

CODEC = "libx264"
PIX_FMT = "yuv444p"


def require_av() -> ModuleType:
    """PyAV, or a one-line error that names the extra to install."""
    try:
        import av
    except ImportError:
        raise DatasetError("video features need PyAV, which is not installed: pip install 'robovlms[video]'") from None
    return av


def video_info(fps: int, height: int, width: int) -> dict[str, Any]:
    """The ``info`` block LeRobot keeps beside a video feature in ``meta/info.json``."""
    return {
        "video.height": height,
        "video.width": width,
        "video.codec": "h264",
        "video.pix_fmt": PIX_FMT,
        "video.is_depth_map": False,
        "video.fps": fps,
        "video.channels": 3,
        "has_audio": False,
    }


class VideoEncoder:
    """One mp4 file that episodes are appended to; :meth:`add` returns where an episode starts."""

    def __init__(self, path: Path, fps: int, height: int, width: int) -> None:
        av = require_av()
        path.parent.mkdir(parents=True, exist_ok=True)
        self.fps = fps
        self.frames = 0
        self._container = av.open(str(path), mode="w")
        self._stream = self._container.add_stream(CODEC, rate=fps, options={"crf": "0", "g": "2"})
        self._stream.pix_fmt = PIX_FMT
        self._stream.height, self._stream.width = height, width
        self._stream.time_base = Fraction(1, fps)
        self._av = av

    def add(self, images: np.ndarray) -> float:
        start = self.frames / self.fps
        for image in images:
            frame = self._av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
            frame.pts = self.frames
            self._container.mux(self._stream.encode(frame))
            self.frames += 1
        return start

    def close(self) -> None:
        self._container.mux(self._stream.encode(None))
        self._container.close()


def decode(path: Path, start: float, count: int, fps: float) -> np.ndarray:
    """``count`` frames from ``start`` seconds on, as ``(count, H, W, 3)`` uint8."""
    av = require_av()
    frames: list[np.ndarray] = []
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            container.seek(int(start / stream.time_base), stream=stream)  # lands on the keyframe before
            for frame in container.decode(stream):
                if frame.pts is not None and float(frame.pts * stream.time_base) < start - 0.5 / fps:
                    continue
                frames.append(frame.to_ndarray(format="rgb24"))
                if len(frames) == count:
                    break
    except av.FFmpegError as exc:
        raise DatasetError(f"{path}: unreadable video ({first_line(exc)})") from None
    if not frames:
        raise DatasetError(f"{path}: no frames at {start:.3f}s")
    return np.stack(frames)
