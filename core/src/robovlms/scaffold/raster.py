"""Grid classes whose processor needs torchvision and hands the encoder patches row by row, the encoder
merging them itself (Muse Glimmer, Muse Spark, Kimi K2.5) or cutting one block of pixels per image token
into patches (Inkling 2): the facts the generator needs, settled by running the processor's own code.

A robot's camera has one frame size, so the generated preset resizes every frame to one square side that
the class's rule leaves as it is (a multiple of patch size times merge size, under its caps), with a
fixed-size PIL processor carrying the class's mean, std and resampling: for such a frame the class's own
processor gives the same pixels (torchvision's resize returns a frame already at its target size as it
is, and padding to the size a frame has is none). That is not taken on trust: the processor's module
imports torchvision, so its resizing rule (``smart_resize``, ``navit_resize``) and ``patchify`` (plain
Python and torch) are compiled from its source and run here, the first on the sides the presets use, the
second against :class:`RasterGridBackbone`'s patches; Inkling 2's processor does not resize, and its whole
``_preprocess`` runs against :class:`TokenGridBackbone`'s blocks and grid.
"""

from __future__ import annotations
import __future__

import ast
import inspect
import itertools
import math
from collections.abc import Callable
from typing import Any

from robovlms.scaffold.processors import (
    FIXED_SIZE_PIL,
    _class_values,
    _rendered,
    _source,
    class_rules,
    torchvision_only,
)

#: the class attributes the stand-in carries
RULES = ("image_mean", "image_std", "resample")
#: the resizing rules known, by the processor module's function: the class attributes each reads, and the
#: sizes it gives a ``side`` square frame for ``patch`` pixels a patch, ``merge`` patches a token per side
RESIZES: dict[str, tuple[tuple[str, ...], Callable[..., list[Any]]]] = {
    # Muse Glimmer: the grid nearest the aspect ratio under a cap of image tokens
    "smart_resize": (("max_image_tokens",), lambda f, side, patch, merge, r: [f(side, side, patch * merge, r[0])]),
    # Kimi K2.5: scaled under a cap of patches and of patches a side, then padded to the merged grid
    "navit_resize": (
        ("max_patches", "size"),
        lambda f, side, patch, merge, r: list(f(side, side, patch, merge, r[0], r[1]["max_height"])),
    ),
}


def raster_stand_in(model_type: str, processor: str, vision: Any, sides: list[int]) -> tuple[str, str]:
    """The fixed-size PIL processor and its arguments (Python source over ``size``) that give ``processor``'s
    pixels for square frames of ``sides``; a ValueError that says what differs where they would not."""
    import torch

    from robovlms.model.raster_grid import RasterGridBackbone, raster_merge

    modules = _home_modules(model_type, processor)
    found = [(name, _compiled(modules, None, name)) for name in RESIZES]
    resize = next(((name, f) for name, f in found if f is not None), None)
    patchify = _compiled(modules, processor, "patchify")
    if resize is None or patchify is None:
        raise ValueError(f"{processor} has no patchify and resizing rule ({', '.join(RESIZES)}) to check it by")
    keys, call = RESIZES[resize[0]]
    rules = class_rules(modules, processor, RULES + keys)
    if rules is None:
        raise ValueError(f"{processor} states no plain {', '.join(RULES + keys)} as class attributes")
    patch, merge = vision.patch_size, int(raster_merge(vision) or 0)
    for side in sides:
        if side % (patch * merge):
            raise ValueError(f"a square frame of side {side} is off {processor}'s grid of {patch * merge} pixels")
        if any(tuple(size) != (side, side) for size in call(resize[1], side, patch, merge, [rules[k] for k in keys])):
            raise ValueError(f"{processor}'s {resize[0]} changes a square frame of side {side}")
    frame = torch.randn(1, 3, 2 * patch * merge, 3 * patch * merge, generator=torch.Generator().manual_seed(0))
    temporal = getattr(vision, "patch_temporal", None)
    extra = {"temporal_patch_size": temporal} if "temporal_patch_size" in inspect.signature(patchify).parameters else {}
    theirs = patchify(None, frame, patch_size=patch, **extra)[0][0]
    probe = type("Probe", (), {"_vision": vision, "merge_size": merge})
    ours = RasterGridBackbone.patchify(probe, frame)  # type: ignore[arg-type]
    if ours.shape != theirs.shape or not torch.equal(ours, theirs):
        raise ValueError(f"{processor}.patchify lays patches out otherwise than RasterGridBackbone's, row by row")
    return FIXED_SIZE_PIL, _arguments(processor, rules)


def block_processor(model_type: str, vision: Any) -> str | None:
    """The torchvision-only processor of ``model_type`` that cuts each frame into one block of pixels per image
    token (Inkling 2: its ``size`` is that block, ``patch_size x spatial_merge_size``); None where it is not."""
    processor, merge = torchvision_only(model_type), getattr(vision, "spatial_merge_size", None)
    if processor is None:
        return None
    side = vision.patch_size * merge if isinstance(merge, int) else None
    size = (_class_values(_home_modules(model_type, processor), processor, ("size",)) or {}).get("size")
    return processor if side and size == {"height": side, "width": side} else None


def block_stand_in(model_type: str, processor: str, vision: Any, side: int) -> tuple[str, str]:
    """The fixed-size PIL processor and its arguments that give ``processor``'s pixels (it neither resizes nor
    resamples: it pads to its blocks) for a square frame of ``side``; a ValueError where they would not. Its
    ``_preprocess`` runs from source, its backend's padding and normalization standing in, against
    :class:`TokenGridBackbone`'s blocks and grid."""
    import torch
    from transformers.image_processing_utils import BatchFeature
    from transformers.image_utils import SizeDict

    from robovlms.model.raster_grid import TokenGridBackbone

    modules = _home_modules(model_type, processor)
    rules = class_rules(modules, processor, ("image_mean", "image_std"))
    preprocess = _compiled(modules, processor, "_preprocess", {"BatchFeature": BatchFeature, "SizeDict": SizeDict})
    if preprocess is None or rules is None:
        raise ValueError(f"{processor} states no _preprocess, image_mean and image_std of its own to check it by")
    block = vision.patch_size * vision.spatial_merge_size
    if side % block:
        raise ValueError(f"a square frame of side {side} is off {processor}'s blocks of {block} pixels")
    theirs, pixels = _run_preprocess(preprocess, _Backend, rules, side, size=SizeDict(height=block, width=block))
    probe = type("Probe", (), {"_vision": vision, "merge_size": vision.spatial_merge_size})
    ours = TokenGridBackbone.patchify(probe, pixels), TokenGridBackbone.grid_thw(probe, pixels)  # type: ignore[arg-type]
    if not (torch.equal(ours[0], theirs["pixel_values"]) and torch.equal(ours[1], theirs["image_grid_thw"])):
        raise ValueError(f"{processor} lays blocks out otherwise than TokenGridBackbone's, row by row, channels last")
    return FIXED_SIZE_PIL, _arguments(processor, {**rules, "resample": None})


def _run_preprocess(
    preprocess: Any, backend: type[_Backend], rules: dict[str, Any], side: int, **more: Any
) -> tuple[Any, Any]:
    """A processor's ``_preprocess`` (compiled from source) run on a seeded random square frame of ``side``,
    ``backend`` rescaling and normalizing by its ``image_mean`` and ``image_std`` in ``rules`` (``more``: the
    arguments of its own rule), and the pixels robovlms's fixed-size processor gives that frame."""
    import torch

    mean, std = (torch.tensor(rules[key], dtype=torch.float32)[:, None, None] for key in ("image_mean", "image_std"))
    frame = torch.randint(0, 256, (3, side, side), generator=torch.Generator().manual_seed(0)).float()
    theirs = preprocess(
        backend(mean, std),
        [frame],
        do_rescale=True,
        rescale_factor=1 / 255,
        do_normalize=True,
        image_mean=rules["image_mean"],
        image_std=rules["image_std"],
        return_tensors=None,
        **more,
    )
    return theirs, ((frame * (1 / 255) - mean) / std)[None]


class _Backend:
    """What a processor's ``_preprocess`` calls on itself, for a frame already on its grid: padding to the size
    it has is none (transformers' torchvision backend pads only a frame of another size), then rescale and
    normalize (the backend's one step)."""

    def __init__(self, mean: Any, std: Any) -> None:
        self.mean, self.std = mean, std

    def pad(self, images: list[Any], pad_size: Any, **_: Any) -> list[Any]:
        if any(tuple(image.shape[-2:]) != (pad_size.height, pad_size.width) for image in images):
            raise ValueError("the processor pads a frame the fixed size leaves off its grid")
        return images

    def rescale_and_normalize(self, image: Any, do_rescale: bool, factor: float, do_normalize: bool, *_: Any) -> Any:
        image = image * factor if do_rescale else image
        return (image - self.mean) / self.std if do_normalize else image


def _arguments(processor: str, rules: dict[str, Any], note: str = "it needs torchvision") -> str:
    """The stand-in's arguments (Python source over ``size``): ``processor``'s mean, std and resampling (none
    where it does not resize), after a comment with ``note``, why a stand-in carries them."""
    mean, std = ([float(v) for v in rules[key]] for key in ("image_mean", "image_std"))
    arguments = ['size={"height": size, "width": size}', f"image_mean={mean}", f"image_std={std}"]
    arguments += [] if rules["resample"] is None else [f"resample={int(rules['resample'])}"]
    what = (
        f"mean and std ({note}; it resizes nothing)"
        if rules["resample"] is None
        else f"mean, std and resampling ({note})"
    )
    lines = [f"# {processor}'s {what}", *(f"{a}," for a in arguments)]
    return _rendered(lines)


def _home_modules(model_type: str, processor: str) -> list[ast.Module]:
    """The parsed processing modules of the model type whose folder holds ``processor`` (Muse Spark uses Muse
    Glimmer's), ``model_type``'s where none does; parsed once here, for the caller to read its rules from."""
    from transformers.models.auto.image_processing_auto import IMAGE_PROCESSOR_MAPPING_NAMES as IMAGES

    owners = [t for t, n in IMAGES.items() if isinstance(n, dict) and n.get("torchvision") == processor]
    own = _source(model_type)
    for modules in itertools.chain([own], (_source(owner) for owner in owners)):
        if any(_named(module, processor) for module in modules):
            return modules
    return own


def _named(module: ast.Module, name: str) -> bool:
    return any(isinstance(node, ast.ClassDef) and node.name == name for node in module.body)


def _compiled(modules: list[ast.Module], owner: str | None, name: str, more: dict[str, Any] | None = None) -> Any:
    """Function ``name`` of class ``owner`` (None: of the module), compiled from source with torch, math,
    itertools and the modules' own module-level functions as its globals (a processor's method calls its
    module's helpers, and a transformers release may move a step into a new one); None where there is none."""
    import torch

    for module in modules:
        body = module.body
        if owner is not None:
            body = [i for n in body if isinstance(n, ast.ClassDef) and n.name == owner for i in n.body]
        for node in body:
            if isinstance(node, ast.FunctionDef) and node.name == name:
                namespace: dict[str, Any] = {"torch": torch, "math": math, "itertools": itertools}
                for helper in (n for m in modules for n in m.body if isinstance(n, ast.FunctionDef)):
                    try:  # the processor's own code; its module imports torchvision
                        exec(_code(helper), namespace)
                    except NameError:  # a default value from the module's imports: a helper not for here
                        continue
                namespace |= more or {}
                exec(_code(node), namespace)
                return namespace[name]
    return None


def _code(node: ast.FunctionDef) -> Any:
    """One function definition, undecorated, compiled with its annotations left unevaluated (they name
    torchvision's types)."""
    node.decorator_list = []
    tree = ast.fix_missing_locations(ast.Module([node], []))
    return compile(tree, f"<{node.name}>", "exec", flags=__future__.annotations.compiler_flag, dont_inherit=True)


def merged_width(default: Any, tiny: dict[str, Any]) -> dict[str, Any]:
    """The tiny ``out_hidden_size`` where the config's is the vision width times the merged block's patches:
    the encoder's pixel shuffle hands the adapter that many channels."""
    vision, merge = default.vision_config, getattr(default.vision_config, "merge_size", None)
    if not isinstance(merge, int) or getattr(default, "out_hidden_size", None) != vision.hidden_size * merge * merge:
        return {}
    return {"out_hidden_size": tiny["vision_config"]["hidden_size"] * merge * merge}


def native_side(vision: Any) -> int:
    """The full preset's frame side: the encoder's position table (``pos_emb_height`` patches) where that is
    on the grid of merged patches, else 16 merged patches."""
    from robovlms.model.raster_grid import raster_merge

    factor = vision.patch_size * int(raster_merge(vision) or 0)
    table = getattr(vision, "pos_emb_height", 0) * vision.patch_size
    return table if table and table % factor == 0 else 16 * factor


def leftover_sizes(default: Any, tiny: dict[str, Any]) -> None:
    """Sizes of Inkling 2's that the shared shrinking misses, set in ``tiny`` as their plain kin are: the
    sliding-window layers' heads (``swa_*``), the unpadded vocabulary, the vision projector's width."""
    text, vision = tiny["text_config"], tiny["vision_config"]
    for key in default.text_config.to_dict():
        if key.startswith("swa_") and key[4:] in text:
            text[key] = text[key[4:]]
    if "unpadded_vocab_size" in default.text_config.to_dict():
        text["unpadded_vocab_size"] = text["vocab_size"]
    if "projection_hidden_dim" in default.vision_config.to_dict():
        vision["projection_hidden_dim"] = vision["intermediate_size"]
