"""Entry point of the ``paligemma`` backbone; light on purpose, so listing plugins stays cheap."""

from __future__ import annotations

import robovlms

PLUGIN_API = "1.3"


@robovlms.hookimpl
def robovlms_register_backbones() -> list[type]:
    from robovlms_paligemma.modeling_paligemma import RoboPaliGemma

    return [RoboPaliGemma]
