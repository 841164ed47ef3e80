"""Facts about Idefics's kind: gated cross-attention layers read the images under an image mask of the model's own.

Its config keeps the language model's sizes at its top level (no ``text_config``) beside a
``vision_config`` and a ``perceiver_config``; the adapter is a
:class:`robovlms.model.cross_attention.CrossAttentionBackbone`, whose ``image_attention_mask`` is the
model's own. The presets follow the class's config: its resampler stays off where its defaults keep
it off, and only the gates are drawn at random, so that at random weights images reach the text.
"""

from __future__ import annotations

import inspect
from typing import Any

from robovlms.scaffold.hf import (
    TINY_IMAGE,
    TINY_ROLES,
    TINY_SIZES,
    TINY_VOCAB,
    HFClass,
    _processor,
    _shrunk,
    _sizes,
    _tiny_part,
)

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


def gated_class(cls: type[Any], default: Any) -> HFClass:
    """The facts the generator renders a :class:`CrossAttentionBackbone` adapter and its presets from."""
    vision = default.vision_config
    tiny = {
        **_shrunk(_sizes(default), {**TINY_SIZES, "vocab_size": TINY_VOCAB}),
        **TINY_ROLES,
        **TINY_GATES,
        "vision_config": {**_shrunk(_sizes(vision), {**TINY_SIZES, **TINY_IMAGE})},
        "perceiver_config": _tiny_part(default.perceiver_config),
    }
    full = {
        **_sizes(default),
        **{key: getattr(default, key) for key in TINY_ROLES},
        "vision_config": _sizes(vision),
        "perceiver_config": _sizes(default.perceiver_config),
    }
    processor, args = _processor(default.model_type)
    name = type(default).__name__
    return HFClass(cls.__name__, name, processor, args, {"tiny": tiny, "full": full}, gated=True)


def tiled_cross_layout(cls: type[Any]) -> bool:
    """Whether ``cls`` is Mllama's kind: images in tiles, cross-attention under a mask per image and tile."""
    forward = inspect.signature(cls.forward).parameters
    return {"cross_attention_mask", "aspect_ratio_ids", "aspect_ratio_mask"} <= set(forward)


def tiled_cross_tiny(tiny: dict[str, Any]) -> None:
    """Mllama's tiny preset where its config names layers by index: one global vision layer, the first layer's
    states as the intermediate ones the projector also reads, and the language model's last layer cross-attending."""
    vision, text = tiny["vision_config"], tiny["text_config"]
    vision.update(
        num_global_layers=1,
        intermediate_layers_indices=[0],
        vision_output_dim=2 * vision["hidden_size"],  # the last layer's states and one intermediate layer's
        attention_heads=TINY_SIZES["num_attention_heads"],
    )
    text["cross_attention_layers"] = [text.get("num_hidden_layers", TINY_SIZES["num_hidden_layers"]) - 1]
