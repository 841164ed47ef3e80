"""The plugin machinery, the bottom layer: the kinds of component, the hooks, discovery and loading.

Nothing here imports torch or the model layer; listing plugins stays cheap. ``load``, ``check``,
``discover`` and ``manager`` are re-exported because plugins written against plugin API 1.0 call
``robovlms.plugins.load`` in their tests.
"""

from robovlms.plugins.discovery import PluginInfo, discover
from robovlms.plugins.kinds import ACTION_HEAD, BACKBONE, KINDS, Component, ComponentKind, Status, kind_named
from robovlms.plugins.loading import check, load, manager, strict, unknown_names

__all__ = [
    "ACTION_HEAD",
    "BACKBONE",
    "KINDS",
    "Component",
    "ComponentKind",
    "PluginInfo",
    "Status",
    "check",
    "discover",
    "kind_named",
    "load",
    "manager",
    "strict",
    "unknown_names",
]
