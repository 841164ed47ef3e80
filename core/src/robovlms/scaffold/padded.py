"""Processors that keep a frame's aspect ratio and pad it to a square (Aria's ``max_image_size``).

Such a processor resizes the longer side to ``max_image_size``, the shorter in proportion but at least
``min_image_size``, and pads the rest with a ``pixel_mask``; robovlms's
:class:`~robovlms.model.images.ImageProcessor` follows it (rule ``longest_edge_pad``) and the adapter is a
:class:`~robovlms.model.padded.PaddedSquareBackbone`. A preset's processor keeps the checkpoint's ratio of
the two sides at the preset's resolution. Aria's projector turns each number of patches into a number of
queries of its own (``projector_patch_to_query_dict``, for 490 and 980 pixels); a tiny preset gets one
entry per resolution its tests build, a quarter as many queries as patches.
"""

from __future__ import annotations

import inspect
from typing import Any

from robovlms.scaffold.processors import _rendered


def padded_side(name: str) -> int | None:
    """``max_image_size`` of transformers' image processor ``name`` where it is one side (Aria's), else None
    (Idefics3's is a dict of the longest edge)."""
    import transformers

    side = getattr(getattr(transformers, name), "max_image_size", None)
    return side if isinstance(side, int) and not isinstance(side, bool) else None


def padded_args(name: str) -> str:
    """The processor's arguments at the preset's side ``size`` as Python source, '' where it does not pad.

    ``min_image_size`` keeps its ratio to ``max_image_size`` (336 of 980 for Aria), so a tiny frame is padded
    as a checkpoint's is.
    """
    import transformers

    side = padded_side(name)
    if side is None:
        return ""
    floor = inspect.signature(getattr(transformers, name)._preprocess).parameters.get("min_image_size")
    low = getattr(getattr(transformers, name), "min_image_size", None)
    low = low if isinstance(low, int) else (floor.default if floor is not None else 0)
    return f"max_image_size=size, min_image_size=size * {int(low)} // {side}"


def tiny_queries(default: Any, vision: dict[str, Any], sides: tuple[int, ...]) -> dict[str, Any]:
    """``projector_patch_to_query_dict`` for a tiny preset's ``vision`` at each of ``sides``, where the config
    has one; empty otherwise."""
    if "projector_patch_to_query_dict" not in default.to_dict():
        return {}
    patches = [(side // int(vision["patch_size"])) ** 2 for side in sides]
    return {"projector_patch_to_query_dict": {count: max(1, count // 4) for count in patches}}


def token_budget(name: str) -> tuple[dict[str, int], str] | None:
    """The pixel budget ``{"shortest_edge": min, "longest_edge": max}`` of a grid processor that keeps a budget
    of image tokens and pads each frame to whole merged blocks (GLM-5 Next's ``min_image_tokens``,
    ``max_image_tokens``), and its arguments (Python source) that give a preset's pixel budget as tokens; None
    where ``name`` keeps no such budget."""
    import transformers

    processor = getattr(transformers, name)
    low, high, patch, merge = (
        getattr(processor, key, None) for key in ("min_image_tokens", "max_image_tokens", "patch_size", "merge_size")
    )
    if not (isinstance(low, int) and isinstance(high, int) and isinstance(patch, int) and isinstance(merge, int)):
        return None
    area = (patch * merge) ** 2
    budget = {"shortest_edge": low * area, "longest_edge": high * area}
    lines = [
        "# its budget is of image tokens, one per merged block: the pixel budget over a block's area",
        *(
            f"{key}=config.{pixels} // (vision.patch_size * _merge(config)) ** 2,"
            for key, pixels in (
                ("min_image_tokens", "min_pixels"),
                ("max_image_tokens", "max_pixels"),
            )
        ),
    ]
    return budget, _rendered(lines, close=False)
