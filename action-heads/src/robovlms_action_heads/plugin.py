"""Entry point of the ``mlp``, ``lstm``, ``gpt``, ``discrete`` and ``flow`` heads.

All four entry points name this module; the core keeps the class whose ``name`` matches the entry
point. The head modules import torch, so they are imported inside the hook, never at import time.
"""

from __future__ import annotations

import robovlms

PLUGIN_API = "1.0"


@robovlms.hookimpl
def robovlms_register_action_heads() -> list[type]:
    from robovlms_action_heads.discrete import DiscreteHead
    from robovlms_action_heads.flow import FlowHead
    from robovlms_action_heads.gpt import GPTHead
    from robovlms_action_heads.lstm import LSTMHead
    from robovlms_action_heads.mlp import MLPHead

    return [MLPHead, LSTMHead, GPTHead, DiscreteHead, FlowHead]
