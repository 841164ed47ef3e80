"""Entry point of the ``kosmos2`` backbone; light on purpose, so listing plugins stays cheap."""

from __future__ import annotations

import robovlms

PLUGIN_API = "1.3"


@robovlms.hookimpl
def robovlms_register_backbones() -> list[type]:
    from robovlms_kosmos2.modeling_kosmos2 import RoboKosmos2

    return [RoboKosmos2]
