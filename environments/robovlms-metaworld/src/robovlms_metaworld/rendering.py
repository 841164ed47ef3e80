"""OpenGL for MuJoCo's offscreen renderer, chosen before MuJoCo is imported.

Without a GPU, rendering goes through Mesa's software renderer (EGL by default, OSMesa on request).
Shadows and multisampling cost most of a software frame and change little at the sizes a VLA sees,
so they are turned off before the first render (about 7x faster). Each task keeps one renderer for
its whole life: creating many EGL contexts in one process was seen to hang.
"""

from __future__ import annotations

import ctypes.util
import os
from typing import Any

import numpy as np

from robovlms.errors import RoboVLMsError, first_line

#: what MUJOCO_GL selects -> the shared library it loads
LIBRARIES = {"egl": "EGL", "osmesa": "OSMesa", "glfw": "GL"}
INSTALL = "apt-get install libegl-mesa0 libosmesa6 libgl1"


def backend() -> str:
    """The OpenGL backend MuJoCo will use: ``MUJOCO_GL``, set to ``egl`` when the user did not choose."""
    return os.environ.setdefault("MUJOCO_GL", "egl")


def problem() -> str | None:
    """Why rendering cannot work here, found without creating a context (which may hang), or ``None``."""
    gl = backend()
    library = LIBRARIES.get(gl)
    if library is None:
        return f"MUJOCO_GL={gl!r}: expected one of {', '.join(LIBRARIES)}"
    if ctypes.util.find_library(library) is None:
        return f"MUJOCO_GL={gl} needs lib{library}, which is not installed (as root: {INSTALL})"
    return None


class Camera:
    """One offscreen renderer for one MuJoCo model, drawing any of its cameras at one size."""

    def __init__(self, model: Any, size: int) -> None:
        reason = problem()
        if reason:
            raise RoboVLMsError(f"metaworld cannot render: {reason}")
        import mujoco

        model.vis.quality.shadowsize = 0
        model.vis.quality.offsamples = 0
        try:
            self.renderer = mujoco.Renderer(model, size, size)
        except Exception as exc:  # the GL library exists but gives no context (no display, broken driver)
            raise RoboVLMsError(
                f"metaworld cannot render with MUJOCO_GL={backend()}: {first_line(exc, with_type=True)} "
                f"(install Mesa: {INSTALL}, or try MUJOCO_GL=osmesa)"
            ) from None

    def frame(self, data: Any, camera: str, *, upside_down: bool) -> np.ndarray:
        """``camera``'s view of ``data`` as ``(S, S, 3)`` uint8, the right way up."""
        self.renderer.update_scene(data, camera=camera)
        image = self.renderer.render()
        return np.ascontiguousarray(image[::-1]) if upside_down else image

    def close(self) -> None:
        self.renderer.close()
