"""robovlms: any vision-language model as a vision-language-action policy, through plugins.

Importing this package is cheap on purpose: it imports neither torch nor transformers nor any
plugin. The torch-backed parts are imported on first attribute access.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from robovlms.errors import CheckpointError, ConfigError, InputError, PluginError, RoboVLMsError
from robovlms.hookspecs import hookimpl

__version__ = "0.1.0"

#: Version of the plugin contract (hooks and base classes). A plugin declares the version it was
#: written for as ``PLUGIN_API`` in its entry-point module; a different major version is refused.
PLUGIN_API_VERSION = "1.0"

_LAZY = {
    "Config": "robovlms.config",
    "load_config": "robovlms.config",
    "BaseRoboVLM": "robovlms.backbone",
    "ImageProcessor": "robovlms.images",
    "build_backbone": "robovlms.building",
    "build_vla": "robovlms.building",
    "VLA": "robovlms.vla",
    "BaseActionHead": "robovlms.action_head",
    "HeadSpec": "robovlms.action_head",
}

__all__ = [
    "PLUGIN_API_VERSION",
    "CheckpointError",
    "ConfigError",
    "InputError",
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
