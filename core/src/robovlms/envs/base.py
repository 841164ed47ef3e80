"""What every environment provides, built in or from a plugin: tasks, cameras, layouts and an expert.

Data generation and closed-loop evaluation only speak to this class, so any installed environment
(the built-in tabletop, Meta-World from ``robovlms-metaworld``, ...) records datasets and evaluates
runs the same way. An episode is fully determined by its seed (task, layout and wording), which is
what makes the expert, the policy and the language-blind policy comparable on the same episodes.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Mapping, Sequence
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


#: constructor arguments every environment takes; the others are its options
_COMMON = {"self", "tasks", "cameras", "image_size"}


def environment_options(cls: type[BaseEnvironment]) -> dict[str, Any]:
    """An environment's options (its constructor's other keyword arguments) with their defaults.

    Options such as Meta-World's ``jitter`` change which episodes a seed draws, so a dataset records
    the ones it was generated with and evaluation reuses them: a run is tested where it was trained.
    """
    parameters = inspect.signature(cls.__init__).parameters.values()
    return {p.name: p.default for p in parameters if p.name not in _COMMON and p.kind is p.KEYWORD_ONLY}


def check_options(cls: type[BaseEnvironment], options: Mapping[str, Any]) -> dict[str, Any]:
    """``options`` as ``cls`` takes them, or a one-line error naming the option and what ``cls`` offers."""
    offered = environment_options(cls)
    for name, value in options.items():
        if name not in offered:
            listed = ", ".join(f"{key} (default {json.dumps(default)})" for key, default in offered.items())
            raise InputError(f"environment {cls.name!r} has no option {name!r}; its options: {listed or 'none'}")
        if not _fits(value, offered[name]):
            raise InputError(
                f"environment {cls.name!r} option {name}: expected a value like its default "
                f"{json.dumps(offered[name])}, got {json.dumps(value)}"
            )
    return dict(options)


def _fits(value: Any, default: Any) -> bool:
    """Whether ``value`` has the type of the option's ``default`` (an int is a fine float, a bool no number)."""
    if default is None:
        return True
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(default, bool) and isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float))
    return isinstance(value, type(default))


def parse_options(items: Sequence[str]) -> dict[str, Any]:
    """``--option KEY=VALUE`` arguments, each value read as JSON (``0.1``, ``true``) or else as text;
    the environment checks them (:func:`check_options`) when it is built."""
    options: dict[str, Any] = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or not name.strip():
            raise InputError(f"--option {item!r}: expected KEY=VALUE, like jitter=0.1")
        try:
            options[name.strip()] = json.loads(text)
        except ValueError:
            options[name.strip()] = text
    return options


def parse_tasks(text: str | None) -> list[str] | None:
    """``--tasks a,b`` as a list; ``None`` (every task) when not given."""
    if text is None:
        return None
    return [part.strip() for part in text.split(",") if part.strip()]
