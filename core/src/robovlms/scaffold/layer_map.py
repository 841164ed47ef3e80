"""Presets of a class whose image features enter its language model at layers of their own (Granite 4 Vision).

Granite4VisionConfig leaves ``deepstack_layer_map`` and ``downsample_rate`` to the checkpoint (None), and its
modeling code reads both; each is derived here from what that code requires, so the presets build the
architecture it describes. ``downsample_rate`` ``"q/w"``: every window Q-Former downsamples windows of ``w``
patches a side to ``q`` queries a side, and the four spatial projectors' windows are those of
``spatial_offset_downsample``, which halves the side: so ``q/w`` is 1/2, the smallest window ``"1/2"`` (a
window side must divide the encoder's patches per side: 4 and 6 at the tiny sides 32 and 48).
``deepstack_layer_map``: one pair, the vision layer the class reads (``vision_feature_layer``) into the
language model's first layer, as a LLaVA-NeXT's image tokens enter. The tiny language model has a layer
for that pair and one for each of the four spatial groups (``spatial_target_layers``), so that every
projector's features reach it and the fidelity check compares them all.
"""

from __future__ import annotations

from typing import Any

#: the spatial projectors' groups (Granite4VisionModel builds four: the corners of each 2x2 block)
SPATIAL_GROUPS = 4


def layer_map_layout(default: Any) -> bool:
    """Whether a VLM's config maps vision layers to language-model layers (``deepstack_layer_map``)."""
    return "deepstack_layer_map" in default.to_dict()


def layer_map_presets(presets: dict[str, dict[str, Any]], default: Any) -> None:
    """Complete the tiny and full presets with the settings the config leaves to the checkpoint."""
    vision_layer = default.vision_feature_layer
    vision_layer = vision_layer[-1] if isinstance(vision_layer, (list, tuple)) else vision_layer
    for settings in presets.values():
        settings.setdefault("downsample_rate", default.downsample_rate or "1/2")
        settings.setdefault("deepstack_layer_map", default.deepstack_layer_map or [[vision_layer, 0]])
    tiny = presets["tiny"]
    mapped = len(tiny["deepstack_layer_map"])
    tiny["text_config"]["num_hidden_layers"] = mapped + SPATIAL_GROUPS
    tiny["spatial_target_layers"] = list(range(mapped, mapped + SPATIAL_GROUPS))
