"""The kinds of component a plugin can provide, described once, and the health of a plugin.

Each kind is one :class:`ComponentKind`: the entry-point group that lists it, the word users read,
the hook that returns its classes, and the base class's public name. A component class says which
kind and name it is itself (``kind`` and ``name`` on :class:`Component`, the way hatch plugins
carry their own name), so the loader can check what a hook returned without importing the model
layer and torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import ClassVar


@dataclass(frozen=True)
class ComponentKind:
    """One kind of plugin component."""

    #: the word configs, the CLI and JSON output use (``backbone``)
    key: str
    #: the entry-point group that lists components of this kind
    group: str
    #: how messages name one component of this kind
    label: str
    #: the hook that returns the classes
    hook: str
    #: the public name of the base class every component of this kind subclasses
    base: str

    def __str__(self) -> str:
        return self.key


BACKBONE = ComponentKind(
    "backbone", "robovlms.backbones", "backbone", "robovlms_register_backbones", "robovlms.BaseRoboVLM"
)
ACTION_HEAD = ComponentKind(
    "action_head", "robovlms.action_heads", "action head", "robovlms_register_action_heads", "robovlms.BaseActionHead"
)
ENVIRONMENT = ComponentKind(
    "environment",
    "robovlms.environments",
    "environment",
    "robovlms_register_environments",
    "robovlms.envs.BaseEnvironment",
)
#: every kind, in the order listings show them
KINDS: tuple[ComponentKind, ...] = (BACKBONE, ACTION_HEAD, ENVIRONMENT)


def kind_named(key: str | ComponentKind) -> ComponentKind:
    """The kind whose key is ``key`` (a kind passes through), or a ValueError that lists the keys."""
    if isinstance(key, ComponentKind):
        return key
    for kind in KINDS:
        if kind.key == key:
            return kind
    raise ValueError(f"unknown component kind {key!r}; expected one of: {', '.join(k.key for k in KINDS)}")


class Component:
    """What every component class carries, whatever its kind: the name configs use, and its kind.

    The base classes of the model layer (``BaseRoboVLM``, ``BaseActionHead``) and of the
    environments (``BaseEnvironment``) derive from this and set ``kind``; a plugin's class sets
    ``name`` to its entry point's name.
    """

    name: ClassVar[str] = ""
    kind: ClassVar[ComponentKind]


class Status(str, Enum):
    """A plugin's health as ``robovlms plugins`` shows it; ``ok`` and ``disabled`` are not problems."""

    OK = "ok"
    DISABLED = "disabled"
    INCOMPATIBLE = "incompatible"
    CONFLICT = "conflict"
    MISSING = "missing"
    BROKEN = "broken"
    ERROR = "error"
    INVALID = "invalid"

    @property
    def problem(self) -> bool:
        return self not in (Status.OK, Status.DISABLED)

    def __str__(self) -> str:
        return self.value
