"""The hooks a robovlms plugin may implement.

A plugin's entry-point module implements these with ``@robovlms.hookimpl``. Names carry the
``robovlms_`` prefix; a function with that prefix that matches no spec here is refused when the
plugin loads, so a typo in a hook name is an error instead of a silently ignored plugin.
"""

from __future__ import annotations

from typing import Any

import pluggy

PROJECT = "robovlms"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def robovlms_register_backbones() -> list[type]:
    """Return the backbone classes this plugin provides.

    Each class subclasses :class:`robovlms.BaseRoboVLM` and carries its own ``name``, which must
    equal the name of the ``robovlms.backbones`` entry point that points at this module. Import the
    heavy module (torch, transformers) inside this function, not at the top of the entry-point
    module: listing plugins must stay cheap.
    """


@hookspec
def robovlms_register_action_heads() -> list[type]:
    """Return the action-head classes this plugin provides.

    Each class subclasses :class:`robovlms.BaseActionHead` and carries its own ``name``, which
    must equal the name of the ``robovlms.action_heads`` entry point that points at this module.
    """


@hookspec
def robovlms_register_environments() -> list[type]:
    """Return the environment classes this plugin provides.

    Each class subclasses :class:`robovlms.envs.BaseEnvironment` and carries its own ``name``, which
    must equal the name of the ``robovlms.environments`` entry point that points at this module.
    Import the simulator inside this function: listing plugins must not start a physics engine.
    """


@hookspec(firstresult=True)
def robovlms_encode_images(backbone: Any, pixel_values: Any) -> Any | None:
    """Turn a batch of normalized pixels into the backbone's image tokens, or return ``None``.

    Called by every backbone before its own ``model_encode_images``; the first non-``None``
    result wins. Use it to change how images become tokens (a different feature layer, token
    pooling, a cached encoder) without forking the backbone plugin. The result must have shape
    ``(batch, tokens, backbone.hidden_size)``. Only plugins loaded for the current build take part.
    """
