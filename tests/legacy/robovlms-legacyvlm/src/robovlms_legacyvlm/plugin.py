"""Entry point of the ``legacyvlm`` backbone; light on purpose, so listing plugins stays cheap."""

from __future__ import annotations

import robovlms

PLUGIN_API = "1.0"


@robovlms.hookimpl
def robovlms_register_backbones() -> list[type]:
    from robovlms_legacyvlm.modeling_legacyvlm import RoboInternVL

    return [RoboInternVL]
