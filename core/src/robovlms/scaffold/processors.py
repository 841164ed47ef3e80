"""The image processor a generated preset uses where transformers maps none usable to the model type.

Two cases are common. A model type that transformers built from a sibling (``glm_ocr`` and ``glm4v_moe``
from ``glm4v``) often has no image processor of its own: it shares the sibling's multimodal processor,
or its modular source derives its configuration from the sibling's; the sibling's PIL processor is the
one its checkpoints are preprocessed with. A processor that exists only for torchvision (which robovlms
does not need) still states its rules as class attributes: the size, mean, std and resampling are read
from its source without importing it, and a PIL processor of the same fixed-size rule carries them. A
torchvision-only grid processor (a pixel budget, Qwen-VL's patches) whose code is Qwen2-VL's, statement
for statement, is carried the same way by Qwen2-VL's PIL processor.
"""

from __future__ import annotations

import ast
import importlib.util
import re
from pathlib import Path
from typing import Any

#: the class attributes of a transformers image processor that state its fixed-size rule
RULES = ("size", "image_mean", "image_std", "resample")
#: the PIL processor that carries a torchvision-only processor's fixed-size rule: resize, rescale, normalize
FIXED_SIZE_PIL = "SiglipImageProcessorPil"
#: the PIL processor that carries a torchvision-only grid processor's rule where its code is Qwen2-VL's
GRID_PIL = "Qwen2VLImageProcessorPil"
#: the grid processor's code that must equal Qwen2-VL's (its resizing to the budget, patch order, steps)
GRID_CODE = ("smart_resize", "resize", "patchify", "_preprocess")


def sibling(model_type: str) -> tuple[str, dict[str, str]] | None:
    """The sibling model type whose image processors ``model_type``'s checkpoints use, and those processors."""
    from transformers.models.auto.image_processing_auto import IMAGE_PROCESSOR_MAPPING_NAMES as IMAGES
    from transformers.models.auto.processing_auto import PROCESSOR_MAPPING_NAMES as PROCESSORS

    shared = PROCESSORS.get(model_type)
    candidates = [other for other, name in PROCESSORS.items() if shared and name == shared and other != model_type]
    candidates += _modular_parents(model_type)
    for other in candidates:
        names = IMAGES.get(other)
        if isinstance(names, dict) and names.get("pil"):
            return other, names
    return None


def _modular_parents(model_type: str) -> list[str]:
    """Model types whose configuration ``model_type``'s modular source imports (what transformers derived it from)."""
    spec = importlib.util.find_spec(f"transformers.models.{model_type}")
    folders = list(spec.submodule_search_locations or []) if spec else []
    source = Path(folders[0], f"modular_{model_type}.py") if folders else None
    if source is None or not source.is_file():
        return []
    text = source.read_text(encoding="utf-8")
    return list(dict.fromkeys(re.findall(r"^from \.\.(\w+)\.configuration_\w+ import", text, flags=re.MULTILINE)))


def image_processors(model_type: str) -> dict[str, str]:
    """The image processors transformers maps to ``model_type``, by backend (``pil``, ``torchvision``); empty
    where it maps none."""
    from transformers.models.auto.image_processing_auto import IMAGE_PROCESSOR_MAPPING_NAMES as IMAGES

    names = IMAGES.get(model_type)
    return names if isinstance(names, dict) else {}


def torchvision_only(model_type: str, clips: bool = False) -> str | None:
    """The image processor transformers maps to ``model_type`` where it exists for torchvision only (with
    ``clips``, where it maps none, the video processor of a model that takes clips only); None where it has a
    PIL variant or there is none: a PIL one runs here as it is, a torchvision-only one is read from source."""
    names = image_processors(model_type) or (_video_processor(model_type) if clips else None) or {}
    return str(names["torchvision"]) if not names.get("pil") and names.get("torchvision") else None


def fixed_size_rules(model_type: str, name: str) -> dict[str, Any] | None:
    """``size``, ``image_mean``, ``image_std`` and ``resample`` of the processor class ``name``, read from its
    source (its module imports torchvision); None where one is missing or not a plain value."""
    found = class_rules(_source(model_type), name, RULES)
    size = (found or {}).get("size")
    if found is None or not (isinstance(size, dict) and {"height", "width"} <= set(size)):
        return None
    return found


def _source(model_type: str) -> list[ast.Module]:
    """The parsed ``image_processing_*.py`` modules of ``model_type`` (read, not imported)."""
    spec = importlib.util.find_spec(f"transformers.models.{model_type}")
    folders = list(spec.submodule_search_locations or []) if spec else []
    paths = sorted(Path(folders[0]).glob("*_processing_*.py")) if folders else []  # a video processor's too
    return [ast.parse(path.read_text(encoding="utf-8")) for path in paths]


def class_rules(
    modules: list[ast.Module], name: str, keys: tuple[str, ...], optional: tuple[str, ...] = ()
) -> dict[str, Any] | None:
    """The class attributes ``keys`` of class ``name`` as values, each but the ``optional`` ones stated; None
    where one is missing or not a plain value (a stand-in carrying part of a rule would carry another rule)."""
    found = _class_values(modules, name, keys)
    if found is None or set(keys) - set(optional) - set(found):
        return None
    return found


def _class_values(modules: list[ast.Module], name: str, keys: tuple[str, ...]) -> dict[str, Any] | None:
    """The class attributes ``keys`` of class ``name`` as values; None where one is not a plain value."""
    import transformers.image_utils as image_utils

    found: dict[str, Any] = {}
    for node in (node for module in modules for node in ast.walk(module)):
        if isinstance(node, ast.ClassDef) and node.name == name:
            for item in node.body:
                target = item.targets[0] if isinstance(item, ast.Assign) else getattr(item, "target", None)
                value = getattr(item, "value", None)
                if isinstance(target, ast.Name) and target.id in keys and value is not None:
                    try:
                        found[target.id] = _value(value, image_utils)
                    except (ValueError, AttributeError, TypeError):
                        return None
    return found


def _code(modules: list[ast.Module], name: str) -> dict[str, str]:
    """The :data:`GRID_CODE` functions of class ``name`` and its module, each as its syntax tree's dump."""
    code: dict[str, str] = {}
    for module in modules:
        for node in module.body:
            if isinstance(node, ast.FunctionDef) and node.name in GRID_CODE:
                code[node.name] = ast.dump(node)
            if isinstance(node, ast.ClassDef) and node.name == name:
                for item in node.body:
                    if isinstance(item, ast.FunctionDef) and item.name in GRID_CODE:
                        code[item.name] = ast.dump(item)
    return code


def grid_stand_in(model_type: str) -> tuple[str, str, dict[str, int]] | None:
    """Qwen2-VL's PIL processor, its arguments (Python source) with the mean, std and resampling of
    ``model_type``'s torchvision-only grid processor, and that processor's pixel budget (``size``); None where
    it has a PIL variant, or its code is not Qwen2-VL's, or its rules cannot be read."""
    name = torchvision_only(model_type)
    if name is None:
        return None
    modules, qwen = _source(model_type), _source("qwen2_vl")
    theirs, reference = _code(modules, name), _code(qwen, "Qwen2VLImageProcessor")
    if set(theirs) != set(GRID_CODE) or theirs != reference:
        return None
    rules = class_rules(modules, name, RULES)
    size = (rules or {}).get("size")
    if rules is None or not isinstance(size, dict):
        return None
    if not {"shortest_edge", "longest_edge"} <= set(size):
        return None
    mean, std = ([float(v) for v in rules[key]] for key in ("image_mean", "image_std"))
    arguments = [f"image_mean={mean}", f"image_std={std}", f"resample={int(rules['resample'])}"]
    lines = [f"# {name}'s rule (it needs torchvision; its code is Qwen2-VL's)", *(f"{a}," for a in arguments)]
    budget = {key: int(size[key]) for key in ("shortest_edge", "longest_edge")}
    return GRID_PIL, _rendered(lines, close=False), budget


def grid_departures(model_type: str) -> str:
    """How ``model_type``'s torchvision-only processor departs from Qwen2-VL's code (why Qwen2-VL's PIL
    processor cannot stand in for it), for a refusal; empty where it is no grid processor or has a PIL one."""
    name = torchvision_only(model_type)
    if name is None:
        return ""
    modules = _source(model_type)
    if not any(isinstance(n, ast.ClassDef) and n.name == name for m in modules for n in ast.walk(m)):
        return ""
    theirs, reference = _code(modules, name), _code(_source("qwen2_vl"), "Qwen2VLImageProcessor")
    missing = [key for key in GRID_CODE if key not in theirs]
    differ = [key for key in GRID_CODE if key in theirs and theirs[key] != reference.get(key)]
    parts = [f"it has no {', '.join(missing)} of its own"] if missing else []
    parts += [f"its {', '.join(differ)} differ{'s' if len(differ) == 1 else ''} from Qwen2-VL's"] if differ else []
    return f" (nor can Qwen2-VL's PIL processor stand in: {'; '.join(parts)})" if parts else ""


def _value(node: ast.expr, constants: Any) -> Any:
    """A literal, or one of transformers' constants (``OPENAI_CLIP_MEAN``, ``PILImageResampling.BICUBIC``)."""
    if isinstance(node, ast.Name):
        return getattr(constants, node.id)
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        return getattr(getattr(constants, node.value.id), node.attr)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):  # a budget written as 4 * 28 * 28
        return _value(node.left, constants) * _value(node.right, constants)
    if isinstance(node, ast.Dict):
        keys = [key for key in node.keys if key is not None]
        if len(keys) != len(node.values):  # a ``**spread`` is no plain value
            raise ValueError("a dict spread")
        return {_value(k, constants): _value(v, constants) for k, v in zip(keys, node.values, strict=True)}
    return ast.literal_eval(node)


def torchvision_stand_in(model_type: str) -> tuple[str, str] | None:
    """A PIL processor and its arguments (Python source over ``size``) with the rules of ``model_type``'s
    processor where that exists for torchvision only; None where it has a PIL variant or its rules cannot be read."""
    name = torchvision_only(model_type, clips=True)
    rules = None if name is None else fixed_size_rules(model_type, name)
    if rules is None:
        return None
    mean, std = ([float(v) for v in rules[key]] for key in ("image_mean", "image_std"))
    resample = int(rules["resample"])
    # one argument a line, with the reason first: the call is rendered into the preset's module
    arguments = [
        'size={"height": size, "width": size}',
        f"image_mean={mean}",
        f"image_std={std}",
        f"resample={resample}",
    ]
    lines = [f"# {name}'s rule (it needs torchvision)", *(f"{a}," for a in arguments)]
    return FIXED_SIZE_PIL, _rendered(lines)


def _rendered(lines: list[str], close: bool = True) -> str:
    """A processor call's arguments as Python source for the preset's module, one line each; ``close`` ends them
    where the call's parenthesis follows (a caller that adds arguments leaves them open)."""
    return "".join(f"\n        {line}" for line in lines) + ("\n    " if close else "")


def _video_processor(model_type: str) -> dict[str, str] | None:
    """The video processor of a model that takes clips only (InstructBLIP-Video), whose rules hold frame by frame;
    read from its source, since transformers' mapping forgets a processor whose torchvision does not import."""
    spec = importlib.util.find_spec(f"transformers.models.{model_type}")
    folders = list(spec.submodule_search_locations or []) if spec else []
    paths = sorted(Path(folders[0]).glob("video_processing_*.py")) if folders else []
    names = [
        node.name
        for path in paths
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.ClassDef) and node.name.endswith("VideoProcessor")
    ]
    return {"torchvision": names[0]} if len(names) == 1 else None
