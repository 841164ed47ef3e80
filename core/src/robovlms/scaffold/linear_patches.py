"""Facts about a class whose images reach the language model as linearly projected patches (Fuyu).

Such a config has a ``text_config`` but no vision config: the patch size, the resolution and the
channels sit at its top level, beside ``image_token_id``. The adapter is a
:class:`robovlms.model.linear_patches.LinearPatchBackbone`; the presets shrink the language model as
the other presets do and keep the patches at the tiny presets' size.
"""

from __future__ import annotations

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
    _architecture,
    _processor,
    _shrunk,
    _sizes,
)
from robovlms.scaffold.shrink import head_grouping, open_head_dim

#: the top-level keys that make a class of this kind: its patches' geometry and their placeholder
TOP_LEVEL = ("patch_size", "image_size", "num_channels", "image_token_id")


def patch_facts(cls: type[Any]) -> HFClass | None:
    """The facts of a class whose config keeps the patch geometry at its top level and has no vision config;
    None for any other class, whose facts :func:`robovlms.scaffold.hf.facts` finds."""
    config_class = cls.config_class
    subs = set(getattr(config_class, "sub_configs", {}) or {})
    if subs != {"text_config"}:
        return None
    try:
        default = config_class()
    except Exception:  # facts() names the failure
        return None
    if not all(isinstance(getattr(default, key, None), int) for key in TOP_LEVEL):
        return None
    try:
        processor, args = _processor(default.model_type)
    except NotThePattern as exc:
        return HFClass(cls.__name__, config_class.__name__, reason=str(exc))
    # the processor cuts patches too (for the VLM's own processing): at the preset's size, not its default's
    args += ', patch_size={"height": config.patch_size, "width": config.patch_size}'
    text = default.text_config
    tiny_text = {
        "model_type": text.model_type,
        **_architecture(text),
        **_shrunk(_sizes(text), {**TINY_SIZES, "vocab_size": TINY_VOCAB}),
        **open_head_dim(text, tiny=True),
        **head_grouping(text, TINY_SIZES["num_attention_heads"]),
        **TINY_ROLES,
    }
    tiny = {"text_config": tiny_text, **TINY_IMAGE, "num_channels": default.num_channels}
    tiny["image_token_id"] = TINY_IMAGE_TOKEN
    roles = {key: getattr(text, key, None) for key in ROLE_KEYS}
    taken = {default.image_token_id, *roles.values()}
    free = iter(i for i in range(text.vocab_size - 1, -1, -1) if i not in taken)
    full_text = {"model_type": text.model_type, **_architecture(text), **_sizes(text)}
    full_text.update({key: value if isinstance(value, int) else next(free) for key, value in roles.items()})
    full = {"text_config": full_text, **{key: getattr(default, key) for key in TOP_LEVEL}}
    presets = {"tiny": tiny, "full": full}
    return HFClass(cls.__name__, config_class.__name__, processor, args, presets, linear_patches=True)
