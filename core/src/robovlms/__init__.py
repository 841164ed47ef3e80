"""robovlms: any vision-language model as a vision-language-action policy, through plugins.

This module is the public surface, and importing it is cheap on purpose: it imports neither torch
nor transformers nor any plugin. The torch-backed names are imported on first attribute access.

The package is layered, and imports run downward only (checked by the ``lint`` session):

- bottom: ``errors``, ``version``, ``config`` and the plugin machinery, ``robovlms.plugins``;
- the model: ``robovlms.model`` (backbone and head contracts, the VLA, its policy and files);
- the applications: ``envs``, ``datasets``, ``training``, ``evaluation``, ``serving``,
  ``benchmarking``, ``scaffold``, ``demo``, ``testing`` and, on top, ``cli``.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from robovlms.errors import CheckpointError, ConfigError, InputError, ModelError, PluginError, RoboVLMsError
from robovlms.plugins.hookspecs import hookimpl
from robovlms.version import PLUGIN_API_VERSION, __version__

_LAZY = {
    "Config": "robovlms.config",
    "load_config": "robovlms.config",
    "BaseRoboVLM": "robovlms.model.backbone",
    "ImageProcessor": "robovlms.model.images",
    "local_tokenizer": "robovlms.model.tokenization",
    "preset_settings": "robovlms.model.presets",
    "build_backbone": "robovlms.model.components",
    "build_vla": "robovlms.model.vla",
    "VLA": "robovlms.model.vla",
    "Policy": "robovlms.model.policy",
    "BaseActionHead": "robovlms.model.action_head",
    "HeadSpec": "robovlms.model.action_head",
}

__all__ = [
    "PLUGIN_API_VERSION",
    "CheckpointError",
    "ConfigError",
    "InputError",
    "ModelError",
    "PluginError",
    "RoboVLMsError",
    "__version__",
    "hookimpl",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'robovlms' has no attribute {name!r}")
