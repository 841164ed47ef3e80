"""Backbones with both of Qwen3-Omni's thinker's traits: positions laid out by ``get_rope_index`` after
``vision_start`` markers, and DeepStack features that enter the language model's first layers.

Each trait lives in its own base; this class only joins them, so that a fix to either reaches the
thinker too: :class:`~robovlms.model.rope_index.RopeIndexBackbone` gives each block's positions and
:class:`~robovlms.model.deepstack.DeepStackBackbone` the image encoding and the language model's inputs.
"""

from __future__ import annotations

from robovlms.model.deepstack import DeepStackBackbone
from robovlms.model.rope_index import RopeIndexBackbone


class RopeIndexDeepStackBackbone(RopeIndexBackbone, DeepStackBackbone):
    """Positions from :class:`RopeIndexBackbone`, encoding and DeepStack inputs from :class:`DeepStackBackbone`."""
