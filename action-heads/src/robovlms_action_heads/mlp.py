"""The ``mlp`` head: a fully connected decoder applied to each frame on its own."""

from __future__ import annotations

from typing import ClassVar

from robovlms_action_heads.layers import PerFrameHead


class MLPHead(PerFrameHead):
    """Continuous chunks from each frame alone: the cheapest head, for one_step and interleaved."""

    name: ClassVar[str] = "mlp"
