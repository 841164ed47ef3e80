"""The built-in tabletop as an environment plugin: the core's own ``robovlms.environments`` entry point.

It registers through the same entry point and hook as any installed environment, so listing,
isolation and ``--env`` treat it like the others; it stays the default where none is named.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from robovlms.envs.base import BaseEnvironment, Observation
from robovlms.envs.tabletop import CAMERAS as TABLETOP_CAMERAS
from robovlms.envs.tabletop import TASKS, TEMPLATES, TOP, ScriptedExpert, TabletopEnv
from robovlms.plugins.hookspecs import hookimpl
from robovlms.version import PLUGIN_API_VERSION

PLUGIN_API = PLUGIN_API_VERSION


class Tabletop(BaseEnvironment):
    """Pick the named block of three, seen from above (:mod:`robovlms.envs.tabletop`)."""

    name = "tabletop"
    TASKS = {task: TEMPLATES for task in TASKS}
    CAMERAS = TABLETOP_CAMERAS
    DEFAULT_CAMERAS = (TOP,)  # the feature its datasets have always used
    STATE = ("x", "y", "z", "gripper")
    FPS = 10
    HAS_EXPERT = True

    def __init__(
        self,
        *,
        tasks: Sequence[str] | None = None,
        cameras: Sequence[str] | None = None,
        image_size: int = 64,
        max_steps: int = 30,
    ) -> None:
        super().__init__(tasks=tasks, cameras=cameras, image_size=image_size)
        targets = [task.removeprefix("pick ") for task in self.tasks]
        self.env = TabletopEnv(image_size=image_size, max_steps=max_steps, cameras=self.cameras, targets=targets)
        self.expert = ScriptedExpert()

    def reset(self, seed: int) -> Observation:
        observation = self.env.reset(seed)
        self.task, self.instruction = self.env.task, self.env.instruction
        return observation

    def step(self, action: np.ndarray) -> tuple[Observation, bool, bool]:
        return self.env.step(action)

    def expert_action(self) -> np.ndarray:
        return self.expert.act(self.env)


@hookimpl
def robovlms_register_environments() -> list[type]:
    return [Tabletop]
