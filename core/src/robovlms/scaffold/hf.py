"""What ``robovlms new-plugin`` learns from a transformers VLM class.

The core knows one pattern well enough to write the whole adapter: decoder-only VLMs laid out like
LLaVA, whose ``model.model`` holds a ``vision_tower`` and a ``language_model``, whose
``get_image_features(pixel_values)`` returns one token per image placeholder, and whose config has
``vision_config``, ``text_config`` and ``image_token_id``. For such a class the presets are derived
from its config class: ``tiny`` shrinks every size, ``full`` spells out transformers' defaults.

A class that looks like the pattern is not trusted on looks: the presets are rendered, executed and
run through the VLM once (a tiny model, milliseconds). Whatever fails becomes the reason the
generator writes TODO stubs instead, so a class it calls known gets tests that pass without edits.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from robovlms.errors import RoboVLMsError, first_line

#: sizes a tiny preset gives every sub-config that has them (keys ending in intermediate_size too)
TINY_SIZES = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 16,
    "projection_dim": 64,
}
TINY_IMAGE = {"image_size": 32, "patch_size": 8}
#: the other resolution the generated tests build ``tiny`` at (6 x 6 patches: pixel shuffles of 2 and 3 fit)
RESIZED = 48
TINY_VOCAB = 320
#: the stand-in tokenizer's special ids: three roles, then 256 bytes, then the image placeholder
TINY_ROLES = {"pad_token_id": 0, "eos_token_id": 1, "bos_token_id": 2}
TINY_IMAGE_TOKEN = 259
#: keys that size a model: the ones a person compares with the checkpoint's config.json
SIZE_KEYS = (*TINY_SIZES, "image_size", "patch_size", "vocab_size")
ROLE_KEYS = tuple(TINY_ROLES)
#: config entries that are bookkeeping (or derived from the sizes), never architecture
_BOOKKEEPING = {
    "transformers_version",
    "architectures",
    "_name_or_path",
    "layer_types",
    "dtype",
    "torch_dtype",
    "model_type",
    "id2label",
    "label2id",
    "output_hidden_states",
    "output_attentions",
    "return_dict",
}


class NotThePattern(Exception):
    """The class departs from the pattern; the message says where, for the TODO stubs and the CLI."""


@dataclass(frozen=True)
class HFClass:
    """A transformers model class and, if it follows the pattern, everything the adapter needs."""

    name: str
    config_class: str
    #: the image processor class (the PIL one: robovlms does not need torchvision)
    processor_class: str | None = None
    #: whether that processor resizes the shortest edge and center-crops (CLIP) or resizes to a square
    center_crop: bool = False
    presets: dict[str, dict[str, Any]] | None = None
    #: why the class is not of the pattern; None when it is
    reason: str | None = None

    @property
    def title(self) -> str:
        """``InternVLForConditionalGeneration`` -> ``InternVL``, for the adapter's class name."""
        for suffix in ("ForConditionalGeneration", "ForVisionText2Text", "ForCausalLM", "Model"):
            if self.name.endswith(suffix) and self.name != suffix:
                return self.name[: -len(suffix)]
        return self.name


def resolve(name: str) -> type:
    """The transformers model class called ``name``, or a one-line error (with a guess if one is close)."""
    import transformers
    from transformers import PreTrainedModel

    try:
        cls = getattr(transformers, name, None)
    except Exception as exc:  # a class whose backend is missing raises on access
        raise RoboVLMsError(f"transformers {transformers.__version__} cannot provide {name}: {exc}") from None
    if not (isinstance(cls, type) and issubclass(cls, PreTrainedModel)):
        models = [n for n in dir(transformers) if n.endswith(("ForConditionalGeneration", "ForVisionText2Text"))]
        close = difflib.get_close_matches(name, models, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise RoboVLMsError(f"transformers {transformers.__version__} has no model class {name}{hint}")
    return cls


def inspect_class(cls: type[Any], render_configuration: Callable[[HFClass], str]) -> HFClass:
    """Facts about ``cls``; ``render_configuration`` turns them into the presets module, which is run here."""
    try:
        found = _pattern(cls)
        _smoke_test(cls, render_configuration(found))
    except NotThePattern as exc:
        return HFClass(cls.__name__, cls.config_class.__name__, reason=str(exc))
    return found


def _pattern(cls: type[Any]) -> HFClass:
    config_class = cls.config_class
    try:
        default = config_class()
    except Exception as exc:
        raise NotThePattern(f"{config_class.__name__}() fails: {first_line(exc, with_type=True)}") from None
    subs = getattr(config_class, "sub_configs", {}) or {}
    if not {"vision_config", "text_config"} <= set(subs):
        raise NotThePattern(f"{config_class.__name__} has no vision_config and text_config")
    if not isinstance(getattr(default, "image_token_id", None), int):
        raise NotThePattern(f"{config_class.__name__} has no image_token_id: images do not enter as tokens")
    features = getattr(cls, "get_image_features", None)
    if features is None:
        raise NotThePattern(f"{cls.__name__} has no get_image_features")
    required = [
        p.name
        for p in list(inspect.signature(features).parameters.values())[1:]
        if p.name != "pixel_values" and p.default is p.empty and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
    ]
    if required:
        raise NotThePattern(f"get_image_features also needs {', '.join(required)} (images of varying size or tiles)")
    processor, center_crop = _processor(default.model_type)
    try:
        presets = {"tiny": _tiny(default), "full": _full(default)}
    except NotThePattern:
        raise
    except Exception as exc:  # a sub-config that cannot be built with its defaults
        raise NotThePattern(
            f"cannot derive presets from {config_class.__name__}: {first_line(exc, with_type=True)}"
        ) from None
    return HFClass(cls.__name__, config_class.__name__, processor, center_crop, presets)


def _processor(model_type: str) -> tuple[str, bool]:
    import transformers
    from transformers.models.auto.image_processing_auto import IMAGE_PROCESSOR_MAPPING_NAMES

    names = IMAGE_PROCESSOR_MAPPING_NAMES.get(model_type) or {}
    name = names.get("pil") if isinstance(names, dict) else None
    if not name:
        raise NotThePattern(f"{model_type!r} has no image processor that works without torchvision")
    size = getattr(transformers, name)().size
    if size.get("height"):
        return name, False
    if size.get("shortest_edge"):
        return name, True
    raise NotThePattern(f"{name} resizes to no fixed size (size={dict(size)})")


def _architecture(sub: Any) -> dict[str, Any]:
    """Where the VLM's default sub-config departs from its class's own defaults (e.g. no pooling head)."""
    own = type(sub)().to_dict()
    return {
        key: value
        for key, value in sub.to_dict().items()
        if key not in _BOOKKEEPING and key not in SIZE_KEYS and (key not in own or own[key] != value)
    }


def _sizes(sub: Any) -> dict[str, Any]:
    values = sub.to_dict()
    return {key: values[key] for key in SIZE_KEYS if values.get(key) is not None}


def _shrunk(sizes: dict[str, Any], tiny: dict[str, Any]) -> dict[str, Any]:
    """``sizes`` with tiny values; a size given per axis (``[448, 448]``) stays a list."""
    out = {}
    for key, value in sizes.items():
        small = tiny.get(key, TINY_SIZES["intermediate_size"] if key.endswith("intermediate_size") else None)
        if small is None:
            continue
        out[key] = [small] * len(value) if isinstance(value, (list, tuple)) else small
    return out


def _tiny(default: Any) -> dict[str, Any]:
    vision, text = default.vision_config, default.text_config
    if not {"image_size", "patch_size"} <= set(_sizes(vision)):
        raise NotThePattern("its vision_config has no image_size and patch_size")
    top = {
        key: TINY_SIZES["intermediate_size"]
        for key, value in default.to_dict().items()
        if key.endswith("intermediate_size") and isinstance(value, int)
    }
    return {
        "vision_config": {
            "model_type": vision.model_type,
            **_architecture(vision),
            **_shrunk(_sizes(vision), {**TINY_SIZES, **TINY_IMAGE}),
        },
        "text_config": {
            "model_type": text.model_type,
            **_architecture(text),
            **_shrunk(_sizes(text), {**TINY_SIZES, "vocab_size": TINY_VOCAB}),
            **TINY_ROLES,
        },
        **top,
        "image_token_id": TINY_IMAGE_TOKEN,
    }


def _full(default: Any) -> dict[str, Any]:
    """transformers' defaults spelled out; special ids the text config leaves open get free ids at the top."""
    vision, text = default.vision_config, default.text_config
    vocab = text.vocab_size
    taken = {default.image_token_id}
    roles: dict[str, int] = {}
    for key in ROLE_KEYS:
        value = getattr(text, key, None)
        value = value[0] if isinstance(value, (list, tuple)) and value else value
        if isinstance(value, int):
            roles[key] = value
            taken.add(value)
    free = (i for i in range(vocab - 1, -1, -1) if i not in taken)
    roles = {key: roles[key] if key in roles else next(free) for key in ROLE_KEYS}
    return {
        "vision_config": {"model_type": vision.model_type, **_architecture(vision), **_sizes(vision)},
        "text_config": {"model_type": text.model_type, **_architecture(text), **_sizes(text), **roles},
        "image_token_id": default.image_token_id,
    }


def _smoke_test(cls: type[Any], configuration_source: str) -> None:
    """Run the rendered presets through the VLM once: what fails here would fail the generated tests."""
    import torch

    from robovlms.model.images import ImageProcessor

    namespace: dict[str, Any] = {}
    try:
        exec(compile(configuration_source, "configuration.py", "exec"), namespace)
        config = namespace["preset_config"]("tiny", None)
        tokenizer = namespace["preset_tokenizer"](config)
        size = ImageProcessor.from_transformers(namespace["preset_image_processor"](config)).size
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            model = cls(config).eval()
    except Exception as exc:
        raise NotThePattern(
            f"the tiny preset derived from {cls.config_class.__name__} fails: {first_line(exc, with_type=True)}"
        ) from None
    try:
        with torch.device("meta"):  # shapes only: the full architecture needs no memory here
            cls(namespace["preset_config"]("full", None))
    except Exception as exc:
        raise NotThePattern(
            f"transformers' defaults for {cls.config_class.__name__} do not build: {first_line(exc, with_type=True)}"
        ) from None
    inner: Any = getattr(model, "model", None)
    towers: list[Any] = [getattr(inner, part, None) for part in ("vision_tower", "language_model")]
    if not all(isinstance(t, torch.nn.Module) for t in towers):
        raise NotThePattern(f"{cls.__name__}.model has no vision_tower and language_model")
    if not any(m is model.get_input_embeddings() for m in towers[1].modules()):
        raise NotThePattern("the token embeddings are not part of model.model.language_model")
    if "token_type_ids" in inspect.signature(type(inner).forward).parameters:
        raise NotThePattern(
            "its forward takes token_type_ids: part of the sequence attends bidirectionally, and which part "
            "is a decision for a person (see robovlms-paligemma's forward_text)"
        )
    try:
        with torch.no_grad():
            features = inner.get_image_features(pixel_values=torch.zeros(1, 3, size, size))
            tokens = getattr(features, "pooler_output", features)
            count = tokens.shape[1]
            ids = [tokenizer.bos_token_id, *[config.image_token_id] * count, *tokenizer.encode("hi")]
            inner(input_ids=torch.tensor([ids]), pixel_values=torch.zeros(1, 3, size, size))
            # the generated tests also run the preset at another resolution
            larger = cls(namespace["preset_config"]("tiny", RESIZED)).model
            larger.get_image_features(pixel_values=torch.zeros(1, 3, RESIZED, RESIZED))
    except Exception as exc:
        raise NotThePattern(f"the tiny model's forward fails: {first_line(exc, with_type=True)}") from None
    if tokens.ndim != 3 or tokens.shape[-1] != config.text_config.hidden_size:
        raise NotThePattern(f"get_image_features returns {tuple(tokens.shape)}, not (1, tokens, text hidden size)")
