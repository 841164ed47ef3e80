"""What every backbone's presets module shares: a named architecture as config settings, at any resolution.

A plugin's ``configuration_<name>.py`` keeps ``PRESETS`` (the keyword arguments of its transformers
config class, per preset, with the vision encoder's under ``vision_config``) and three functions;
:func:`preset_settings` is the part of ``preset_config`` that is the same in all of them.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from robovlms.errors import ConfigError


def side(size: int | list[int] | tuple[int, ...]) -> int:
    """Images are square; transformers gives some sizes per axis (``[448, 448]``)."""
    return int(size[0]) if isinstance(size, (list, tuple)) else int(size)


def preset_settings(
    presets: Mapping[str, Mapping[str, Any]], preset: str, image_size: int | None, *, vision: str = "vision_config"
) -> dict[str, Any]:
    """A copy of ``presets[preset]`` with its vision encoder at ``image_size`` (None keeps the preset's).

    The size must be a multiple of the patch size: a VLM's image tokens are its patches, and a
    partial patch would silently be cropped away. ``vision`` is a dotted path where the config nests the
    vision encoder's settings deeper (T5Gemma 2: ``encoder.vision_config``), or ``""`` where the config keeps
    ``image_size`` and ``patch_size`` at its top level (Fuyu: no vision config to hold them).
    """
    settings = copy.deepcopy(dict(presets[preset]))
    encoder = settings
    for key in filter(None, vision.split(".")):
        encoder = encoder[key]
    if image_size:
        patch = side(encoder["patch_size"])
        if image_size % patch:
            raise ConfigError(f"vlm.image_size {image_size} must be a multiple of the patch size {patch}")
        per_axis = isinstance(encoder["image_size"], (list, tuple))
        encoder["image_size"] = [image_size] * len(encoder["image_size"]) if per_axis else image_size
    return settings


def pixel_budget(image_size: int | None, factor: int, default: int) -> int:
    """``max_pixels`` of a pixel-budget preset (Qwen-VL's kin): ``vlm.image_size`` squared, the preset's own when None.

    The side must be a multiple of ``factor`` (patch size times merge size), the unit its processor rounds to.
    """
    if image_size is None:
        return default
    if image_size % factor:
        raise ConfigError(f"vlm.image_size {image_size} must be a multiple of {factor} (patch size x merge size)")
    return image_size * image_size
