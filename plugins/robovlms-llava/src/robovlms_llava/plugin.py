"""Entry point of the ``llava`` backbone: cheap to import, so listing plugins never loads torch."""

from __future__ import annotations

import robovlms

PLUGIN_API = "1.0"


@robovlms.hookimpl
def robovlms_register_backbones() -> list[type]:
    from robovlms_llava.modeling_llava import RoboLLaVA

    return [RoboLLaVA]
