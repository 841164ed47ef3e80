"""Entry point of the ``flamingo`` backbone; light on purpose, so listing plugins stays cheap."""

from __future__ import annotations

import robovlms

PLUGIN_API = "1.4"


@robovlms.hookimpl
def robovlms_register_backbones() -> list[type]:
    from robovlms_flamingo.modeling_flamingo import RoboFlamingo

    return [RoboFlamingo]
