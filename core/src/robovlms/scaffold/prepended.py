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

from robovlms.scaffold.hf import ROLE_KEYS, TINY_IMAGE_TOKEN, HFClass, NotThePattern, _processor, _top_level_presets


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
    taken = {getattr(default, key) for key in ROLE_KEYS}
    free = next(i for i in range(default.vocab_size - 1, -1, -1) if i not in taken)
    presets = _top_level_presets(default, {"image_token_id": TINY_IMAGE_TOKEN}, {"image_token_id": free})
    return HFClass(cls.__name__, config_class.__name__, processor, args, presets, prepended=True)
