"""Entry point of the ``legacyhead`` action head; light on purpose, so listing plugins stays cheap."""

from __future__ import annotations

import robovlms

PLUGIN_API = "1.0"


@robovlms.hookimpl
def robovlms_register_action_heads() -> list[type]:
    from robovlms_legacyhead.modeling_legacyhead import Legacyhead

    return [Legacyhead]
