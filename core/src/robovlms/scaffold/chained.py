"""Presets for a vision config that chains two encoders of its own: a SAM, then a second encoder (DeepSeek-OCR 2,
Unlimited OCR).

Their ``vision_config`` has no ``image_size`` or ``patch_size``: it nests a ``sam_config``, which reads the
pixels, and an ``encoder_config``, which reads the SAM's output. The SAM cuts the frame into patches,
and its neck's stride-2 convolutions (one per ``downsample_channels`` entry) shrink that grid, each
to the width they name; the last width is what the second encoder takes, as the input embeddings of
DeepSeek-OCR 2's Qwen2 encoder (with its learnt queries after them) or as the patch embeddings of
Unlimited OCR's CLIP encoder, whose position table is sized by its own ``image_size`` and
``patch_size`` and interpolated to the SAM's grid. One resolution serves both, then: the SAM's
``image_size`` (robovlms's ``vlm.image_size``), with the encoder's width its last downsampling width
and its position table the SAM's output grid at the preset's resolution. The image tokens are what
``get_image_features`` gives for the global view (the queries, or the grid with a newline per row,
and the view separator). A known limit: the checkpoint's processor also cuts a frame whose side
exceeds its ``tile_size`` (768, 640) into local views, read before the global one; robovlms feeds the
global view alone, the frame at the preset's resolution, as the processor does for smaller frames.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from robovlms.model.presets import side

#: the sub-configs of the chain, in the order the pixels pass them
SAM, ENCODER = "sam_config", "encoder_config"
#: where ``preset_settings`` finds the resolution (``vlm.image_size``): the SAM's, which reads the pixels
SIZED = f"vision_config.{SAM}"
#: the tiny SAM: 8 x 8 patches at the tiny 32 pixels, windows of 2 x 2 patches, the last layer global
TINY_SAM = {"image_size": 32, "patch_size": 4, "window_size": 2}


def chained(vision: Any) -> bool:
    """Whether ``vision`` (a ``vision_config``) chains a SAM and an encoder of its own, each with its config."""
    values = vision.to_dict()
    return all(isinstance(values.get(key), dict) and "model_type" in values[key] for key in (SAM, ENCODER))


def chained_settings(vision: Any, part: Callable[[Any], dict[str, Any]], tiny: bool) -> dict[str, Any]:
    """``sam_config`` and ``encoder_config`` of a preset, each part's settings by ``part``, made to agree.

    ``tiny`` shrinks the SAM's resolution and windows too (``part`` shrinks the sizes).
    """
    sam, encoder = (_declared(getattr(vision, key), part) for key in (SAM, ENCODER))
    if tiny:
        sam.update(TINY_SAM)
        if isinstance(sam.get("global_attn_indexes"), (list, tuple)):
            sam["global_attn_indexes"] = [int(sam.get("num_hidden_layers", 1)) - 1]
    widths = list(sam["downsample_channels"])
    encoder["hidden_size"] = widths[-1]
    if "patch_size" in encoder:  # a position table of its own (Unlimited OCR's CLIP): the SAM's output grid
        encoder["image_size"] = side(sam["image_size"])
        encoder["patch_size"] = side(sam["patch_size"]) * 2 ** len(widths)
    return {SAM: sam, ENCODER: encoder}


def _declared(config: Any, part: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
    """``part``'s settings of ``config`` that its class declares (not what every config carries, nor what its
    ``__post_init__`` derives from them: DeepSeek-OCR 2's SAM ``scale``, which a stale copy would override)."""
    declared = {*type(config).__annotations__, "model_type"}
    return {key: value for key, value in part(config).items() if key in declared}
