"""Facts about a class whose encoder takes each image as patches with their positions (Gemma 4).

Its processor resizes an image keeping the aspect ratio to at most ``max_soft_tokens`` tokens, each
side a multiple of ``patch_size * pooling_kernel_size``, cuts it into patches and pads them; a square
frame of such a side passes its resize unchanged, so a fixed-size processor at that side stands in
for it (the resampling, rescale, mean and std read from the class's own processor). The adapter is a
:class:`robovlms.model.positioned_patches.PositionedPatchBackbone`, which cuts the patches and their
positions. The vision config has no ``image_size``: the presets state one, the side the class's
processor gives a square image in ``full``, two pooled tokens a side in ``tiny``.
"""

from __future__ import annotations

import inspect
from typing import Any

from robovlms.errors import first_line
from robovlms.scaffold.checkpoint import with_own_parts
from robovlms.scaffold.hf import (
    TINY_IMAGE,
    TINY_IMAGE_TOKEN,
    TINY_SIZES,
    TINY_VOCAB,
    HFClass,
    NotThePattern,
    _full,
    _inner_class,
    _sizes,
    _tiny,
)
from robovlms.scaffold.processors import FIXED_SIZE_PIL, _source, class_rules, image_processors
from robovlms.scaffold.raster import _compiled

#: the processor's rules a fixed-size PIL one takes over (rescale_factor where it sets one), and its budget
RULES = ("resample", "image_mean", "image_std", "do_normalize", "rescale_factor", "max_soft_tokens")

#: tiny's pooling: 2 x 2 patches a token, so both test resolutions (4 and 6 patches a side) pool evenly
TINY_POOLING = 2
#: tiny's per-layer inputs: a narrow table over the tiny vocabulary (the checkpoint's is 262k x layers x 256)
TINY_PER_LAYER = {"hidden_size_per_layer_input": TINY_SIZES["head_dim"], "vocab_size_per_layer_input": TINY_VOCAB}


def positioned_facts(cls: type[Any]) -> HFClass | None:
    """The facts of a class whose ``get_image_features`` takes ``image_position_ids`` beside the patches and whose
    vision config has no ``image_size``; None for any other class, whose facts (or reason)
    :func:`robovlms.scaffold.hf.facts` finds."""
    features = getattr(_inner_class(cls), "get_image_features", None)
    if not callable(features) or "image_position_ids" not in inspect.signature(features).parameters:
        return None
    try:
        default = with_own_parts(cls.config_class())
    except Exception:  # facts() names the failure
        return None
    if default.vision_config is None or "image_size" in _sizes(default.vision_config):
        return None
    try:
        return _positioned_class(cls, default)
    except NotThePattern as exc:
        return HFClass(cls.__name__, type(default).__name__, reason=str(exc))


def _positioned_class(cls: type[Any], default: Any) -> HFClass:
    name = type(default).__name__
    # the torchvision processor's rules, read from source (Gemma 4 Unified's has no PIL variant, and its module
    # imports torchvision); Gemma 4's PIL variant has the same
    own = image_processors(default.model_type).get("torchvision")
    modules = _source(default.model_type)
    rules = class_rules(modules, own, RULES, optional=("rescale_factor",)) if own else None
    sizing = _compiled(modules, None, "get_aspect_ratio_preserving_size")
    if rules is None or sizing is None:
        raise NotThePattern(
            f"{name}'s image processor ({own}) keeps no plain {', '.join(RULES)} and get_aspect_ratio_preserving_size "
            "to read a fixed-size PIL processor's from: write preset_image_processor"
        )
    try:
        presets = {"tiny": _tiny(default), "full": _full(default)}
    except Exception as exc:
        raise NotThePattern(f"cannot derive presets from {name}: {first_line(exc, with_type=True)}") from None
    vision = default.vision_config
    budget = rules["max_soft_tokens"] * vision.pooling_kernel_size**2
    # the side its processor gives a square image: a square frame of that side passes its resize unchanged
    full_side = sizing(10_000, 10_000, vision.patch_size, budget, vision.pooling_kernel_size)[0]
    presets["full"]["vision_config"].update(image_size=full_side)
    presets["tiny"]["vision_config"].update(image_size=TINY_IMAGE["image_size"], pooling_kernel_size=TINY_POOLING)
    # the table of each axis's positions (Gemma 4 Unified's mm_posemb_size): room for the tests' larger frames, not
    # the checkpoint's 10k patches a side; Gemma 4 Unified's embedder projects from output_proj_dims, its width
    tiny_vision = {
        "position_embedding_size": TINY_SIZES["hidden_size"],
        "mm_posemb_size": TINY_SIZES["hidden_size"],
        "output_proj_dims": TINY_SIZES["hidden_size"],
    }
    known = vision.to_dict()
    presets["tiny"]["vision_config"].update({key: value for key, value in tiny_vision.items() if key in known})
    text = default.text_config.to_dict()
    presets["tiny"]["text_config"].update({key: value for key, value in TINY_PER_LAYER.items() if key in text})
    # the other modalities' markers inside the tiny vocabulary: the VLM's forward over embeddings embeds them
    # to find their positions (none, here), and the checkpoint's ids lie past a tiny vocabulary's end
    markers = [key for key in default.to_dict() if key.endswith(("_token_id", "_token_index"))]
    free = iter(range(TINY_IMAGE_TOKEN + 1, TINY_VOCAB))
    presets["tiny"].update({key: next(free) for key in markers if key != "image_token_id"})
    rescale = f"\n        rescale_factor={rules['rescale_factor']!r}," if "rescale_factor" in rules else ""
    args = f"""
        # {own} resizes each image keeping its aspect ratio to at most {rules["max_soft_tokens"]} tokens (each side
        # a multiple of patch_size x pooling_kernel_size) and pads its patches; a square frame of such a side keeps
        # its size there, so this processor at that side is the same; the adapter cuts the patches
        size={{"height": size, "width": size}},
        resample={int(rules["resample"])},{rescale}
        do_normalize={rules["do_normalize"]!r},
        image_mean={list(rules["image_mean"])!r},
        image_std={list(rules["image_std"])!r},
    """
    return HFClass(cls.__name__, name, FIXED_SIZE_PIL, args, presets, positioned=True)
