"""Entry point of the ``metaworld`` environment.

Listing plugins imports this module alone; MuJoCo, Meta-World and the OpenGL setup are imported
inside the hook, when an environment is actually built.
"""

from __future__ import annotations

import robovlms

PLUGIN_API = "1.2"


@robovlms.hookimpl
def robovlms_register_environments() -> list[type]:
    from robovlms_metaworld.environment import MetaWorld

    return [MetaWorld]
