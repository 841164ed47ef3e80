"""Facts about a class that puts the image states in front of the text, with no placeholder id (GIT).

Such a config has a ``vision_config`` but no ``text_config``: the language model's sizes and special
ids sit at its top level, and it has no ``image_token_id``. The adapter is a
:class:`robovlms.model.prepended.PrependedImageBackbone`; the presets shrink the top-level sizes and
the vision config as the other presets do, and give the config an ``image_token_id`` for robovlms's
own placeholders (GIT's forward never reads it).
"""

from __future__ import annotations

import inspect
from typing import Any

from robovlms.scaffold.hf import (
    ROLE_KEYS,
    TINY_IMAGE,
    TINY_IMAGE_TOKEN,
    TINY_ROLES,
    TINY_SIZES,
    TINY_VOCAB,
    HFClass,
    NotThePattern,
    _processor,
    _shrunk,
    _sizes,
)


def prepended_facts(cls: type[Any]) -> HFClass | None:
    """The facts of a class whose config has only a ``vision_config`` and no ``image_token_id``, and whose forward
    takes ``pixel_values`` with the text; None for any other class, whose facts :func:`robovlms.scaffold.hf.facts`
    finds. Whether the model has GIT's parts is settled when the generated plugin runs."""
    config_class = cls.config_class
    subs = set(getattr(config_class, "sub_configs", {}) or {})
    if subs != {"vision_config"} or "pixel_values" not in inspect.signature(cls.forward).parameters:
        return None
    try:
        default = config_class()
    except Exception:  # facts() names the failure
        return None
    if hasattr(default, "image_token_id") or getattr(default, "is_encoder_decoder", False):
        return None
    try:
        processor, args = _processor(default.model_type)
    except NotThePattern as exc:
        return HFClass(cls.__name__, config_class.__name__, reason=str(exc))
    vision = default.vision_config
    tiny = {
        **_shrunk(_sizes(default), {**TINY_SIZES, "vocab_size": TINY_VOCAB}),
        **TINY_ROLES,
        "image_token_id": TINY_IMAGE_TOKEN,
        "vision_config": _shrunk(_sizes(vision), {**TINY_SIZES, **TINY_IMAGE}),
    }
    roles = {key: getattr(default, key) for key in ROLE_KEYS}
    taken = set(roles.values())
    free = next(i for i in range(default.vocab_size - 1, -1, -1) if i not in taken)
    full = {**_sizes(default), **roles, "image_token_id": free, "vision_config": _sizes(vision)}
    presets = {"tiny": tiny, "full": full}
    return HFClass(cls.__name__, config_class.__name__, processor, args, presets, prepended=True)
