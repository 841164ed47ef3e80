"""How to tell the cross-attention kinds of :mod:`robovlms.model.cross_attention` apart, and their tiny settings.

Idefics's config keeps the language model's sizes at its top level (no ``text_config``) beside a
``vision_config`` and a ``perceiver_config``; its adapter is a ``CrossAttentionBackbone``, whose
``image_attention_mask`` is the model's own (its presets: ``robovlms.scaffold.hf._gated_class``; the
resampler stays off where the defaults keep it off, the gates are drawn at random so that at random
weights images reach the text). Mllama's images come in tiles under a mask per image and tile; its
adapter is a ``TiledCrossAttentionBackbone`` and its presets the usual ones, but for the layers its
config names by index.
"""

from __future__ import annotations

import inspect
from typing import Any

#: the parts of Idefics's config beside the language model's sizes at its top level
GATED_PARTS = ("vision_config", "perceiver_config")
#: gates open at random (Idefics initialises them at zero: a model that would not see its images), every
#: layer cross-attends, and robovlms's training switches decide what is frozen
TINY_GATES = {
    "cross_layer_interval": 1,
    "alpha_initializer": "normal",
    "alpha_type": "vector",
    "alphas_initializer_range": 0.5,
    "freeze_text_layers": False,
    "freeze_vision_layers": False,
}


def gated_layout(cls: type[Any], default: Any) -> bool:
    """Whether ``cls`` is Idefics's kind: ``image_attention_mask`` in its forward, no ``text_config``, and the
    vision encoder and perceiver as the config's parts."""
    forward = inspect.signature(cls.forward).parameters
    subs = set(getattr(type(default), "sub_configs", {}) or {})
    return "image_attention_mask" in forward and "text_config" not in subs and set(GATED_PARTS) <= subs


def tiled_cross_layout(cls: type[Any]) -> bool:
    """Whether ``cls`` is Mllama's kind: images in tiles, cross-attention under a mask per image and tile."""
    forward = inspect.signature(cls.forward).parameters
    return {"cross_attention_mask", "aspect_ratio_ids", "aspect_ratio_mask"} <= set(forward)


def tiled_cross_tiny(tiny: dict[str, Any], heads: int) -> None:
    """Mllama's tiny preset where its config names layers by index: one global vision layer, the first layer's
    states as the intermediate ones the projector also reads, and the language model's last layer cross-attending."""
    vision, text = tiny["vision_config"], tiny["text_config"]
    vision.update(
        num_global_layers=1,
        intermediate_layers_indices=[0],
        vision_output_dim=2 * vision["hidden_size"],  # the last layer's states and one intermediate layer's
        attention_heads=heads,
    )
    text["cross_attention_layers"] = [text["num_hidden_layers"] - 1]
