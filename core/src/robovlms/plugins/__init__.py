"""The plugin machinery, the bottom layer: the kinds of component, the hooks, discovery and loading.

Nothing here imports torch or the model layer; listing plugins stays cheap. ``load``, ``check``,
``discover`` and the rest are re-exported because plugins written against plugin API 1.0 call
``robovlms.plugins.load`` in their tests; they are imported on first access, so that
``import robovlms`` (which needs only the hook markers) does not read entry-point metadata.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_LAZY = {
    "PluginInfo": "robovlms.plugins.discovery",
    "discover": "robovlms.plugins.discovery",
    **dict.fromkeys(
        ("ACTION_HEAD", "BACKBONE", "KINDS", "Component", "ComponentKind", "Status", "kind_named"),
        "robovlms.plugins.kinds",
    ),
    **dict.fromkeys(("check", "load", "manager", "strict", "unknown_names"), "robovlms.plugins.loading"),
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'robovlms.plugins' has no attribute {name!r}")
