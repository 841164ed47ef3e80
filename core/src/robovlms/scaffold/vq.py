"""Facts about a class whose images become VQ codes in the text vocabulary (Chameleon, Emu3, Apertus 1.5).

Such a config has a VQ model's config (``vq_config``; Apertus 1.5's ``vision_config``, a VQ tokenizer
with a ``codebook_size``) instead of a vision encoder's, and places each code among the token ids: by
a ``vocabulary_map`` from the checkpoint's tokenizer (Chameleon, Emu3) or from ``image_token_offset``
(Apertus 1.5). The adapter is a :class:`robovlms.model.vq_codes.VQCodesBackbone`; the presets shrink
the language model as the other presets do and the VQ model to one GroupNorm's width (32 channels),
keeping its number of halvings, and so the pixels per code its processor's ``spatial_factor`` assumes.
"""

from __future__ import annotations

import ast
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
    _tiny_part,
)
from robovlms.scaffold.processors import _rendered, _source, class_rules, torchvision_only

#: the tiny VQ model: 32 channels (its GroupNorms take 32 groups), a 32-code book, one GroupNorm-wide
#: channel per level (``channel_multiplier`` is all ones, as long as the class's own)
TINY_VQ: dict[str, Any] = {
    "embed_dim": 32,
    "num_embeddings": 32,
    "latent_channels": 32,
    "base_channels": 32,
    "num_res_blocks": 1,
    "attn_resolutions": [],
    "resolution": TINY_IMAGE["image_size"],
}
#: a tiny audio tokenizer beside the VQ one (Apertus 1.5's WavTokenizer): its codebook is what makes it large
TINY_AUDIO = {"num_filters": 4, "hidden_size": 32, "codebook_size": 16, "codebook_dim": 32, "num_lstm_layers": 1}


def vq_facts(cls: type[Any]) -> HFClass | None:
    """The facts of a class whose images become VQ codes (a reason where robovlms does not cover it); None for
    any other class, whose facts :func:`robovlms.scaffold.hf.facts` finds."""
    config_class = cls.config_class
    subs = set(getattr(config_class, "sub_configs", {}) or {})
    offset = "vision_config" in subs and hasattr(config_class, "image_token_offset")
    if not offset and ("vq_config" not in subs or "vision_config" in subs):
        return None
    try:
        default = config_class()
    except Exception:  # facts() names the failure
        return None
    if offset and not hasattr(default.vision_config, "codebook_size"):
        return None
    try:
        return vq_class(cls, default, "vision_config" if offset else "vq_config")
    except NotThePattern as exc:
        return HFClass(cls.__name__, config_class.__name__, reason=str(exc))


def vq_class(cls: type[Any], default: Any, key: str) -> HFClass:
    """The facts of a VQ-code class robovlms covers, or why it is not covered; ``key`` names its VQ config."""
    from robovlms.model.vq_codes import CODE_NAMES

    name = type(default).__name__
    if key == "vq_config" and default.model_type not in CODE_NAMES:
        raise NotThePattern(_uncovered(cls, name, default))
    processor, args = _vq_processor(default.model_type)
    text = getattr(default, "text_config", None)  # Emu3's language model has a config of its own
    text_tiny = {
        **_shrunk(_sizes(text or default), {**TINY_SIZES, "vocab_size": TINY_VOCAB}),
        **TINY_ROLES,
    }
    vq = getattr(default, key)
    vq_tiny = {**_shrunk(_sizes(vq), TINY_SIZES), **{k: v for k, v in TINY_VQ.items() if hasattr(vq, k)}}
    vq_tiny["channel_multiplier"] = [1] * len(vq.channel_multiplier)
    codes = TINY_VQ["num_embeddings"]
    if hasattr(vq, "codebook_size"):
        vq_tiny["codebook_size"] = codes
    if hasattr(vq, "hidden_size"):  # Emu3's VQ attention runs over the encoder's channels
        vq_tiny["hidden_size"] = TINY_VQ["base_channels"]
    tiny = {
        "model_type": default.model_type,
        **({"text_config": {"model_type": text.model_type, **text_tiny}} if text is not None else text_tiny),
        "image_token_id": TINY_IMAGE_TOKEN,
        key: {**_vq_settings(vq), **vq_tiny, "resolution": TINY_VQ["resolution"]},
    }
    audio = getattr(default, "audio_config", None)
    if key == "vision_config":  # the codes, and an audio tokenizer's, at the top of the vocabulary
        audio_codes = TINY_AUDIO["codebook_size"] if audio is not None else 0
        tiny["image_token_offset"] = TINY_VOCAB - audio_codes - codes
        if audio is not None:
            tiny["audio_config"] = {**_tiny_part(audio), **{k: v for k, v in TINY_AUDIO.items() if hasattr(audio, k)}}
            tiny["audio_token_offset"] = TINY_VOCAB - audio_codes
            tiny["audio_token_id"] = TINY_IMAGE_TOKEN + 1
    return HFClass(cls.__name__, name, processor, args, {"tiny": tiny, "full": _full(default, key)}, vq=True)


def _vq_processor(model_type: str) -> tuple[str, str]:
    """The PIL image processor at the preset's resolution; a pixel budget (Emu3's) of one square's area.

    Apertus 1.5's processor needs torchvision; its resizing is Emu3's (the same ``smart_resize``), so
    Emu3's PIL processor carries it with Apertus's factor, mean, std and resampling.
    """
    import transformers

    theirs = torchvision_only(model_type)
    budget = "min_pixels=size * size, max_pixels=size * size"
    if theirs is not None:
        keys = ("spatial_factor", "image_mean", "image_std", "resample")
        modules = _source(model_type)
        rules = class_rules(modules, theirs, keys)
        if rules is None or _resizing(modules) != _resizing(_source("emu3")):
            raise NotThePattern(
                f"{theirs} needs torchvision, and its resizing is not Emu3's (its smart_resize, or its "
                f"{', '.join(keys)} as plain values) that Emu3ImageProcessor could carry; write preset_image_processor"
            )
        mean, std = ([float(v) for v in rules[k]] for k in ("image_mean", "image_std"))
        arguments = [budget, f"spatial_factor={int(rules['spatial_factor'])}", f"image_mean={mean}"]
        arguments += [f"image_std={std}", f"resample={int(rules['resample'])}"]
        lines = [f"# {theirs}'s rule (it needs torchvision; its resizing is Emu3's)", *(f"{a}," for a in arguments)]
        return "Emu3ImageProcessor", _rendered(lines)
    name = _processor_name(model_type)
    if "max_pixels" in (getattr(transformers, name)().size or {}):
        return name, budget
    return _processor(model_type)


def _resizing(modules: list[ast.Module]) -> list[str]:
    """The ``smart_resize`` of a model type's image processors (their parsed ``modules``), as syntax tree dumps."""
    return [
        ast.dump(node)
        for module in modules
        for node in ast.walk(module)
        if isinstance(node, ast.FunctionDef) and node.name == "smart_resize"
    ]


#: what every transformers config carries and no VQ model reads
_GENERIC = {"chunk_size_feed_forward", "is_encoder_decoder", "problem_type"}


def _vq_settings(vq: Any) -> dict[str, Any]:
    return {key: value for key, value in vq.to_dict().items() if key not in _BOOKKEEPING | _GENERIC}


def _full(default: Any, key: str) -> dict[str, Any]:
    """transformers' defaults; the image placeholder and roles left open take free ids below the codes."""
    import transformers

    text = getattr(default, "text_config", None) or default
    vq = getattr(default, key)
    if key == "vision_config":  # the config places the codes and the placeholder itself
        return {
            "model_type": default.model_type,
            "text_config": {"model_type": text.model_type, **_sizes(text), **{r: getattr(text, r) for r in ROLE_KEYS}},
            "image_token_id": default.image_token_id,
            key: _vq_settings(vq),
        }
    codes = getattr(vq, "num_embeddings", None) or vq.codebook_size
    roles = {role: getattr(text, role, None) for role in ROLE_KEYS}
    roles = {role: value[0] if isinstance(value, (list, tuple)) else value for role, value in roles.items()}
    free = iter(i for i in range(text.vocab_size - codes - 2, -1, -1) if i not in roles.values())
    image = next(free)
    text_full = {
        **_sizes(text),
        **{role: value if isinstance(value, int) else next(free) for role, value in roles.items()},
    }
    # the VQ model's resolution where its config has one (Chameleon's), else the side of its processor's least budget
    resolution = getattr(vq, "resolution", None)
    if resolution is None:
        resolution = math.isqrt(int(getattr(transformers, _processor_name(default.model_type))().size["min_pixels"]))
    return {
        "model_type": default.model_type,
        **({"text_config": {"model_type": text.model_type, **text_full}} if text is not default else text_full),
        "image_token_id": image,
        key: {**_vq_settings(vq), "resolution": resolution},
    }


def _uncovered(cls: type[Any], name: str, default: Any) -> str:
    """Why a VQ-code class of another kind than Chameleon's or Emu3's is not covered."""
    import inspect

    takes = set(inspect.signature(cls.forward).parameters)
    extra = " and image_sizes (each image's height and width)" if "image_sizes" in takes else ""
    return (
        f"{name} has a vq_config and no vision_config: images become discrete VQ codes, which the word embedding "
        f"embeds, but its VQ model ({type(default.vq_config).__name__}) is neither Chameleon's nor Emu3's: its "
        f"get_image_features takes pixel_values{extra} and robovlms.model.vq_codes knows neither how its "
        "vocabulary_map names the codes nor how its quantizer's states give the straight-through gradient; add both "
        "to robovlms.model.vq_codes (CODE_NAMES, VQCodesBackbone._latents) and a prompt with one placeholder per code"
    )
