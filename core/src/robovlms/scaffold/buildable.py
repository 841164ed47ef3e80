"""Whether a class of the mapping can be built on this machine at all, whatever the generator does.

The sweep's target is a share of the classes a CPU can build at tiny size, so its denominator leaves
out only what no generator could change here: a class whose encoders are all for other inputs than
images (Evolla reads proteins; a text-only class, with no encoder at all, stays a refusal), or one
whose parts need a library that does not import on this machine (transformers' TimmWrapperModel
needs timm, and timm torchvision). Everything else the generator refuses stays a refusal with its
reason.
"""

from __future__ import annotations

import inspect
from typing import Any

from robovlms.errors import first_line

#: words in the name of a sub-config or forward argument for images (``vision_config``, ``pixel_values``, ...)
VISUAL = ("vision", "image", "vq", "visual", "pixel", "patch")


def not_buildable_here(cls: type[Any]) -> str | None:
    """Why ``cls`` cannot be instantiated here (tried on the meta device, part by part); None when it can."""
    import torch
    from transformers import AutoModel

    encoders = set(getattr(cls.config_class, "sub_configs", {}) or {}) - {"text_config"}
    inputs = inspect.signature(cls.forward).parameters
    visual = [key for key in (*encoders, *inputs) if any(word in key for word in VISUAL)]
    if encoders and not visual:
        return (
            f"{cls.__name__} reads no images: its encoders are for other inputs ({', '.join(sorted(encoders))}) "
            "and neither a vision config nor an image input"
        )
    try:
        default = cls.config_class()
    except Exception:  # the generator reports a config that cannot be built with its defaults
        return None
    for key in getattr(cls.config_class, "sub_configs", {}) or {}:
        part = getattr(default, key, None)
        if not hasattr(part, "model_type"):
            continue
        try:
            with torch.device("meta"):
                AutoModel.from_config(part)
        except ImportError as exc:
            why = first_line(exc).split(". ")[0].rstrip(".")
            return f"its {key} ({type(part).__name__}) needs a library that does not import here: {why}"
        except Exception:  # not a missing library: the generator's reason stands
            continue
    return None


def defaults_fail(cls: type[Any]) -> str | None:
    """Why transformers' own defaults for ``cls``'s config build no model (None when they do): then no preset
    derived from them can be trusted, and the checkpoint's config.json must supply what they leave out."""
    import torch

    name = cls.config_class.__name__
    try:
        with torch.device("meta"):
            cls(cls.config_class())
    except Exception as exc:
        unset = left_unset(cls)
        which = f" (it leaves None {', '.join(unset)}, which its modeling code reads)" if unset else ""
        return (
            f"transformers' own defaults for {name} build no {cls.__name__} ({first_line(exc, with_type=True)}): "
            f"{name} leaves settings its architecture needs to the checkpoint{which}; write preset_config from the "
            "checkpoint's config.json"
        )
    return None


def left_unset(cls: type[Any]) -> list[str]:
    """The settings ``cls``'s default config leaves None that its modeling code reads as ``config.<name>``: the
    ones a checkpoint's config.json must give (Granite 4 Vision's ``deepstack_layer_map``)."""
    import sys

    source = inspect.getsource(sys.modules[cls.__module__])
    default = cls.config_class()
    parts: list[tuple[str, dict[str, Any]]] = [("", default.to_dict())]
    for key in getattr(cls.config_class, "sub_configs", {}) or {}:
        sub: Any = getattr(default, key, None)
        if hasattr(sub, "to_dict"):
            parts.append((f"{key}.", sub.to_dict()))
    found = []
    for prefix, values in parts:
        found += [
            f"{prefix}{key}"
            for key, value in values.items()
            # special token ids are no architecture: a config leaves them to the tokenizer
            if value is None and not key.startswith("_") and not key.endswith("_token_id") and f"config.{key}" in source
        ]
    return found
