"""Deprecated (plugin API 1.0): build_backbone is in robovlms.model.components, build_vla in robovlms.model.vla."""

import warnings

from robovlms.model.components import build_backbone, build_head
from robovlms.model.vla import build_vla

warnings.warn(
    "robovlms.building is deprecated; use robovlms.build_vla, robovlms.build_backbone or robovlms.model.components",
    DeprecationWarning,
    stacklevel=2,
)

__all__ = ["build_backbone", "build_head", "build_vla"]
