"""Entry point of the ``qwen2vl`` backbone; light on purpose, so listing plugins stays cheap."""

from __future__ import annotations

import robovlms

PLUGIN_API = "1.2"


@robovlms.hookimpl
def robovlms_register_backbones() -> list[type]:
    from robovlms_qwen2vl.modeling_qwen2vl import RoboQwen2VL

    return [RoboQwen2VL]
