"""Facts about a class whose images become VQ codes in the text vocabulary (Chameleon).

Such a config has a ``vq_config`` instead of a ``vision_config``, the language model's sizes at its
top level, and a ``vocabulary_map`` from the checkpoint's tokenizer that places each code among the
token ids. The adapter is a :class:`robovlms.model.vq_codes.VQCodesBackbone`; the presets shrink the
language model as the other presets do and the VQ model to one GroupNorm's width (32 channels).
"""

from __future__ import annotations

import math
from typing import Any

from robovlms.scaffold.hf import (
    _BOOKKEEPING,
    ROLE_KEYS,
    TINY_IMAGE,
    TINY_IMAGE_TOKEN,
    TINY_ROLES,
    TINY_SIZES,
    TINY_VOCAB,
    HFClass,
    NotThePattern,
    _processor,
    _processor_name,
    _shrunk,
    _sizes,
)

#: the tiny VQ model: 32 channels (its GroupNorms take 32 groups), a 32-code book, downsampling by 8 (three
#: halvings, Emu3's processor's spatial factor: 4 x 4 codes at 32 pixels, 6 x 6 at 48)
TINY_VQ = {
    "embed_dim": 32,
    "num_embeddings": 32,
    "latent_channels": 32,
    "base_channels": 32,
    "channel_multiplier": [1, 1, 1, 1],
    "num_res_blocks": 1,
    "attn_resolutions": [],
    "resolution": TINY_IMAGE["image_size"],
}


def vq_facts(cls: type[Any]) -> HFClass | None:
    """The facts of a class with a ``vq_config`` and no ``vision_config`` (a reason where robovlms does not cover
    it); None for any other class, whose facts :func:`robovlms.scaffold.hf.facts` finds."""
    config_class = cls.config_class
    subs = set(getattr(config_class, "sub_configs", {}) or {})
    if "vq_config" not in subs or "vision_config" in subs:
        return None
    try:
        default = config_class()
    except Exception:  # facts() names the failure
        return None
    try:
        return vq_class(cls, default)
    except NotThePattern as exc:
        return HFClass(cls.__name__, config_class.__name__, reason=str(exc))


def vq_class(cls: type[Any], default: Any) -> HFClass:
    """The facts of a VQ-code class robovlms covers, or why it is not covered."""
    from robovlms.model.vq_codes import CODE_NAMES

    name = type(default).__name__
    if default.model_type not in CODE_NAMES:
        raise NotThePattern(_uncovered(cls, name, default))
    processor, args = _vq_processor(default.model_type)
    text = getattr(default, "text_config", None)  # Emu3's language model has a config of its own
    text_tiny = {
        **_shrunk(_sizes(text or default), {**TINY_SIZES, "vocab_size": TINY_VOCAB}),
        **TINY_ROLES,
    }
    vq = default.vq_config
    vq_tiny = {**_shrunk(_sizes(vq), TINY_SIZES), **{key: v for key, v in TINY_VQ.items() if hasattr(vq, key)}}
    if hasattr(vq, "codebook_size"):
        vq_tiny["codebook_size"] = TINY_VQ["num_embeddings"]
    if hasattr(vq, "hidden_size"):  # Emu3's VQ attention runs over the encoder's channels
        vq_tiny["hidden_size"] = TINY_VQ["base_channels"]
    tiny = {
        "model_type": default.model_type,
        **({"text_config": {"model_type": text.model_type, **text_tiny}} if text is not None else text_tiny),
        "image_token_id": TINY_IMAGE_TOKEN,
        "vq_config": {**_vq_settings(vq), **vq_tiny, "resolution": TINY_VQ["resolution"]},
    }
    return HFClass(cls.__name__, name, processor, args, {"tiny": tiny, "full": _full(default)}, vq=True)


def _vq_processor(model_type: str) -> tuple[str, str]:
    """The PIL image processor at the preset's resolution; a pixel budget (Emu3's) of one square's area."""
    import transformers

    name = _processor_name(model_type)
    if "max_pixels" in (getattr(transformers, name)().size or {}):
        return name, "min_pixels=size * size, max_pixels=size * size"
    return _processor(model_type)


def _vq_settings(vq: Any) -> dict[str, Any]:
    return {key: value for key, value in vq.to_dict().items() if key not in _BOOKKEEPING}


def _full(default: Any) -> dict[str, Any]:
    """transformers' defaults; the image placeholder and roles left open take free ids below the codes."""
    import transformers

    text = getattr(default, "text_config", None) or default
    vq = default.vq_config
    codes = getattr(vq, "num_embeddings", None) or vq.codebook_size
    roles = {key: getattr(text, key, None) for key in ROLE_KEYS}
    roles = {key: value[0] if isinstance(value, (list, tuple)) else value for key, value in roles.items()}
    free = iter(i for i in range(text.vocab_size - codes - 2, -1, -1) if i not in roles.values())
    image = next(free)
    text_full = {
        **_sizes(text),
        **{key: value if isinstance(value, int) else next(free) for key, value in roles.items()},
    }
    # the VQ model's resolution where its config has one (Chameleon's), else the side of its processor's least budget
    resolution = getattr(vq, "resolution", None)
    if resolution is None:
        resolution = math.isqrt(int(getattr(transformers, _processor_name(default.model_type))().size["min_pixels"]))
    return {
        "model_type": default.model_type,
        **({"text_config": {"model_type": text.model_type, **text_full}} if text is not default else text_full),
        "image_token_id": image,
        "vq_config": {**_vq_settings(vq), "resolution": resolution},
    }


def _uncovered(cls: type[Any], name: str, default: Any) -> str:
    """Why a VQ-code class other than Chameleon's kind is not covered: what its image path adds."""
    import inspect

    takes = set(inspect.signature(cls.forward).parameters)
    extra = " and image_sizes (each image's height and width)" if "image_sizes" in takes else ""
    return (
        f"{name} has a vq_config and no vision_config: images become discrete VQ codes, which the word embedding "
        f"embeds, but its VQ model ({type(default.vq_config).__name__}) is not Chameleon's: its get_image_features "
        f"takes pixel_values{extra} and robovlms.model.vq_codes knows neither how its vocabulary_map names the codes "
        "nor how its quantizer's states give the straight-through gradient; add both to robovlms.model.vq_codes "
        "(CODE_NAMES, VQCodesBackbone._soft_codes) and a prompt with one placeholder per code"
    )
