"""Facts about a class whose config holds a whole VLM's config as one of its parts (PI0's ``vlm_config``).

Such a config has no vision config of its own: one of its sub-configs is the config of a class in
transformers' image-text-to-text mapping (PI0's is a PaliGemma), and the model builds that VLM's base
model as a part (``model.model.vlm``) beside parts of its own (PI0's action expert, ``dit_config``).
The inner VLM's facts are the generator's usual ones, found for its class; the presets keep the outer
config's layout (the inner VLM's presets under its key, the other parts shrunk as parts between the
towers are) so that the outer class's checkpoint loads. The adapter is a
:class:`robovlms.model.inner_vlm.InnerVLMBackbone`.
"""

from __future__ import annotations

from dataclasses import fields, replace
from typing import Any

from robovlms.scaffold.hf import (
    HFClass,
    NotThePattern,
    _full,
    _processor,
    _sizes,
    _tiny,
    _tiny_part,
    facts,
    resolve,
    towers,
)
from robovlms.scaffold.processors import _source, class_rules, image_processors

#: the image rules the outer class's processor must share with the inner VLM's for it to stand in
RULES = ("image_mean", "image_std", "resample")


def inner_vlm_facts(cls: type[Any]) -> HFClass | None:
    """The facts of a class with a VLM's config among its sub-configs (a reason where robovlms does not cover
    it); None for any other class, whose facts :func:`robovlms.scaffold.hf.facts` finds."""
    config_class = cls.config_class
    subs = getattr(config_class, "sub_configs", {}) or {}
    if "vision_config" in subs:
        return None
    try:
        default = config_class()
    except Exception:  # facts() names the failure
        return None
    inner = [(key, vlm) for key in subs if (vlm := _vlm_class(getattr(default, key, None))) is not None]
    if not inner:
        return None
    key, vlm = inner[0]
    try:
        return _inner_class(cls, default, key, vlm)
    except NotThePattern as exc:
        return HFClass(cls.__name__, config_class.__name__, reason=str(exc))


def _vlm_class(sub: Any) -> str | None:
    """The image-text-to-text class transformers maps ``sub``'s model type to, if any."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES as VLMS

    found = VLMS.get(getattr(sub, "model_type", None) or "")
    return found if isinstance(found, str) else found[0] if found else None


def _inner_class(cls: type[Any], default: Any, key: str, vlm: str) -> HFClass:
    name = type(default).__name__
    inner = facts(resolve(vlm))
    where = f"{name}.{key} configures a {vlm}"
    if inner.reason is not None:
        raise NotThePattern(f"{where}, which robovlms does not cover: {inner.reason}")
    # InnerVLMBackbone covers the pattern's plain image path and token types (measured in settle)
    departs = [f.name for f in fields(HFClass) if isinstance(getattr(inner, f.name), bool) and getattr(inner, f.name)]
    if departs or inner.image_inputs:
        what = ", ".join(departs + sorted(inner.image_inputs))
        raise NotThePattern(
            f"{where}, whose images enter its own way ({what}), where robovlms.model.inner_vlm.InnerVLMBackbone "
            "takes get_image_features' tokens at placeholders: write model_encode_images and forward_text for it"
        )
    sub = getattr(default, key)
    others = [k for k in getattr(type(default), "sub_configs", {}) or {} if k != key]
    tiny = {key: _tiny(sub), **{k: _tiny_part(getattr(default, k)) for k in others}}
    full = {
        key: _full(sub),
        **{k: {"model_type": getattr(default, k).model_type, **_sizes(getattr(default, k))} for k in others},
    }
    processor, args = _stand_in(default.model_type, inner, name)
    return HFClass(cls.__name__, name, processor, args, {"tiny": tiny, "full": full}, inner_config=key)


def _stand_in(model_type: str, inner: HFClass, name: str) -> tuple[str, str]:
    """The outer class's PIL processor; where it has none (PI0's is torchvision's only, resizing a frame to at
    most its size and padding the rest, which a square frame never needs), the inner VLM's PIL one, if both
    normalise and resample alike."""
    try:
        return _processor(model_type)
    except NotThePattern as own:
        import transformers

        torchvision = str(image_processors(model_type).get("torchvision") or "")
        rules = class_rules(_source(model_type), torchvision, RULES) if torchvision else None
        stand_in = getattr(transformers, str(inner.processor_class), None)
        theirs = {key: getattr(stand_in, key, None) for key in RULES}
        if rules is None or any(_differ(rules[k], theirs[k]) for k in RULES):
            raise NotThePattern(
                f"{own}; nor does {inner.processor_class} (the inner VLM's) normalise and resample as "
                f"{torchvision or name} does"
            ) from None
        return str(inner.processor_class), inner.processor_args


def _differ(ours: Any, theirs: Any) -> bool:
    """Whether two values of a rule (a mean per channel, a resampling filter) differ."""
    a, b = (list(v) if isinstance(v, (list, tuple)) else [v] for v in (ours, theirs))
    return None in b or len(a) != len(b) or any(abs(float(x) - float(y)) > 1e-9 for x, y in zip(a, b, strict=True))


def settled(hf: HFClass, model: Any, config: Any) -> HFClass:
    """``hf`` with the inner VLM's attribute under ``model.model`` and its token types, measured on a tiny
    model: the inner VLM class built from the same sub-config reads them as the outer model's part does."""
    from robovlms.scaffold.token_types import token_types

    assert hf.inner_config is not None
    sub = getattr(config, hf.inner_config)
    part = next(
        (n for n, child in model.model.named_children() if type(getattr(child, "config", None)) is type(sub)), None
    )
    vlm = _vlm_class(sub)
    if part is None or vlm is None:
        children = ", ".join(n for n, _ in model.model.named_children())
        what = f"{type(model).__name__}.model holds {children}"
        raise NotThePattern(f"{what}: none is the VLM {hf.inner_config} configures; write the towers by hand")
    inner = resolve(vlm)(sub)
    if towers(inner) != ("language_model", "vision_tower"):
        raise NotThePattern(f"{vlm} keeps its towers as {towers(inner)}: write text_tower and vision_tower")
    types = token_types(inner)
    if types is None:
        raise NotThePattern(
            f"{vlm} reads no token_type_ids, which robovlms.model.inner_vlm.InnerVLMBackbone gives it: "
            "write forward_text without them"
        )
    return replace(hf, inner_vlm=part, token_types=types)
