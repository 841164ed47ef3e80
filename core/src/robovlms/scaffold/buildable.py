"""Whether a class of the mapping can be built on this machine at all, whatever the generator does.

The sweep's target is a share of the classes a CPU can build at tiny size, so its denominator leaves
out only what no generator could change here: a class whose inputs are not images (Evolla reads
proteins), or one whose parts need a library that does not import on this machine (transformers'
TimmWrapperModel needs timm, and timm torchvision). Everything else the generator refuses stays a
refusal with its reason.
"""

from __future__ import annotations

import inspect
from typing import Any

from robovlms.errors import first_line


def not_buildable_here(cls: type[Any]) -> str | None:
    """Why ``cls`` cannot be instantiated here (tried on the meta device, part by part); None when it can."""
    import torch
    from transformers import AutoModel

    if "pixel_values" not in inspect.signature(cls.forward).parameters:
        subs = ", ".join(sorted(getattr(cls.config_class, "sub_configs", {}) or {})) or "none"
        return f"{cls.__name__}'s forward takes no pixel_values: its inputs are not images (sub-configs: {subs})"
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
