"""What every environment provides, built in or from a plugin: tasks, cameras, layouts and an expert.

Data generation and closed-loop evaluation only speak to this class, so any installed environment
(the built-in tabletop, Meta-World from ``robovlms-metaworld``, ...) records datasets and evaluates
runs the same way. An episode is fully determined by its seed (task, layout and wording), which is
what makes the expert, the policy and the language-blind policy comparable on the same episodes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from typing_extensions import Self

from robovlms.errors import InputError
from robovlms.plugins.kinds import ENVIRONMENT, Component, ComponentKind

#: the 7-DoF action every environment takes: six arm deltas, then the gripper (open when positive)
ARM: tuple[str, ...] = ("x", "y", "z", "roll", "pitch", "yaw", "gripper")

#: ``{"images": {camera: frame}, "instruction": str, "state": array}``
Observation = dict[str, Any]


class BaseEnvironment(Component):
    """An environment a policy acts in; a plugin's subclass sets the class attributes and the methods.

    ``reset(seed)`` then ``step(action)`` until done. Cameras are named as the dataset features that
    record them (``observation.images.corner``), so a run's ``data.image_keys`` name the cameras.
    """

    kind: ClassVar[ComponentKind] = ENVIRONMENT
    #: every task, with the instruction phrasings an episode draws from
    TASKS: ClassVar[dict[str, tuple[str, ...]]] = {}
    #: every camera the environment can render
    CAMERAS: ClassVar[tuple[str, ...]] = ()
    #: the cameras it renders when none are named (empty: the first of CAMERAS)
    DEFAULT_CAMERAS: ClassVar[tuple[str, ...]] = ()
    #: what each value of ``observation["state"]`` means
    STATE: ClassVar[tuple[str, ...]] = ()
    #: the action's layout (7-DoF; an environment with fewer degrees maps them, ignoring the rest)
    ACTION: ClassVar[tuple[str, ...]] = ARM
    #: control steps per second, the recorded dataset's fps
    FPS: ClassVar[int] = 10
    #: whether :meth:`expert_action` works
    HAS_EXPERT: ClassVar[bool] = False

    def __init__(
        self, *, tasks: Sequence[str] | None = None, cameras: Sequence[str] | None = None, image_size: int = 64
    ) -> None:
        self.tasks: tuple[str, ...] = self._chosen("tasks", tasks, tuple(self.TASKS))
        self.cameras: tuple[str, ...] = self._chosen("cameras", cameras, self.DEFAULT_CAMERAS or self.CAMERAS[:1])
        self.image_size = image_size
        self.task = ""
        self.instruction = ""

    def _chosen(self, what: str, given: Sequence[str] | None, default: tuple[str, ...]) -> tuple[str, ...]:
        offered = tuple(self.TASKS) if what == "tasks" else self.CAMERAS
        if given is None:
            return default
        chosen = tuple(given)
        unknown = [name for name in chosen if name not in offered]
        if unknown or not chosen or len(set(chosen)) != len(chosen):
            raise InputError(
                f"{self.name} {what}: got {', '.join(chosen) or 'none'}; "
                f"expected distinct names among {', '.join(offered)}"
            )
        return chosen

    def task_of(self, seed: int) -> str:
        """The task ``reset(seed)`` starts; environments where a reset is costly answer without one."""
        self.reset(seed)
        return self.task

    def reset(self, seed: int) -> Observation:
        """A new episode, fully determined by ``seed``: task, layout and wording."""
        raise NotImplementedError

    def step(self, action: np.ndarray) -> tuple[Observation, bool, bool]:
        """Apply one 7-DoF action: ``(observation, success, done)``."""
        raise NotImplementedError

    def expert_action(self) -> np.ndarray:
        """The scripted expert's next 7-DoF action, from privileged state."""
        raise InputError(f"environment {self.name!r} has no scripted expert")

    def close(self) -> None:
        """Release the simulator and its rendering context."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def instruction_for(templates: Sequence[str], rng: np.random.Generator) -> str:
    """One phrasing, drawn by the episode's generator."""
    return templates[int(rng.integers(len(templates)))]


def environment_class(name: str) -> type[BaseEnvironment]:
    """The installed environment called ``name`` (its plugin is imported now, and only it)."""
    from robovlms.plugins.loading import load

    cls = load(ENVIRONMENT, name)
    assert issubclass(cls, BaseEnvironment)  # the loader checked the kind, which only this class sets
    return cls


def parse_tasks(text: str | None) -> list[str] | None:
    """``--tasks a,b`` as a list; ``None`` (every task) when not given."""
    if text is None:
        return None
    return [part.strip() for part in text.split(",") if part.strip()]
