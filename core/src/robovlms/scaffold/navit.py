"""Classes whose images enter NaViT-packed with ``target_sizes`` (MiniCPM-V 4.6): the facts the generator needs,
settled by running the class's own PIL processor.

A robot's camera has one frame size, so the generated preset resizes every frame to one square side on the
grid of merged patches (:class:`robovlms.model.target_sizes.TargetSizesBackbone`), with a fixed-size PIL
processor carrying the class's mean, std and resampling. That the class's processor gives such a frame as it
is, one slice with these patches and ``target_sizes``, is not taken on trust: its own processor runs here
with ``scale_resolution`` the side and slicing off, against the base class's packing.
"""

from __future__ import annotations

from typing import Any

from robovlms.scaffold.processors import FIXED_SIZE_PIL, _class_values, class_rules, image_processors
from robovlms.scaffold.raster import _arguments, _compiled, _home_modules

#: what the encoder's merges read from the config: the window merger's kernel and the merger's
MERGES = ("merge_kernel_size", "downsample_mode")


def takes_target_sizes(names: set[str], default: Any) -> bool:
    """Whether ``get_image_features`` takes ``target_sizes`` (its parameters ``names``) from an encoder whose
    merges the config states (:func:`robovlms.model.target_sizes.target_sizes_merge`)."""
    vision = getattr(default, "vision_config", None)
    return (
        "target_sizes" in names
        and all(hasattr(default, key) for key in MERGES)
        and isinstance(getattr(vision, "patch_size", None), int)
        and hasattr(vision, "window_kernel_size")
    )


def canvas_reason(name: str) -> str:
    """Why a NaViT class whose positions its ``get_rope_index`` lays out, but whose config names no canvas
    markers (:data:`CANVAS_MARKERS`, MiniCPM-V 4.7's), is not covered."""
    return (
        f"{name} packs images as MiniCPM-V 4.6 does (target_sizes), but its language model takes 3-D positions "
        "(M-RoPE) from its get_rope_index over the token ids, and its config lacks some of MiniCPM-V 4.7's canvas "
        f"markers ({', '.join(CANVAS_MARKERS)}) that robovlms.model.canvas_rope.CanvasRoPEBackbone writes around "
        "each image: subclass robovlms.model.target_sizes.TargetSizesBackbone with a prompt that writes the "
        "markers it finds images by and text_inputs with the positions its get_rope_index gives"
    )


#: the canvas markers (MiniCPM-V 4.7), the tiny vocabulary's ids past the image token for them
CANVAS_MARKERS = {
    "image_start_id": 260,
    "image_end_id": 261,
    "slice_start_id": 262,
    "slice_end_id": 263,
    "newline_id": 264,
}


def canvas_markers(default: Any) -> bool:
    """Whether a class whose positions ``get_rope_index`` lays out finds its images by the canvas markers
    (:class:`robovlms.model.canvas_rope.CanvasRoPEBackbone` writes them around each image)."""
    return all(key in default.to_dict() for key in CANVAS_MARKERS)


def tiny_navit(tiny: dict[str, Any], canvas: bool = False) -> None:
    """The tiny preset's window merger within its few vision layers (after the first), patches of 4 pixels
    (16 a merged token, so the tiny side and the resized one, 32 and 48, are on the grid); a canvas class's
    markers in the tiny vocabulary."""
    tiny["insert_layer_id"] = 0
    if canvas:
        tiny.update(CANVAS_MARKERS)
    tiny["vision_config"]["patch_size"] = 4


def navit_stand_in(model_type: str, config: Any, sides: list[int]) -> tuple[str, str]:
    """The fixed-size PIL processor and its arguments (Python source over ``size``) that give ``model_type``'s
    processor's pixels for square frames of ``sides``; a ValueError that says what differs otherwise."""
    from robovlms.model.target_sizes import target_sizes_merge

    patch, merge = config.vision_config.patch_size, target_sizes_merge(config)
    processor, pil = _processor(model_type)
    if not processor:
        raise ValueError(f"transformers maps no image processor to model type {model_type!r}")
    for side in sides:
        if side % (patch * merge):
            raise ValueError(f"a square frame of side {side} is off {processor}'s grid of {patch * merge} pixels")
    if pil:
        rules = _run_pil(processor, config, sides)
        # this processor is PIL's: what the stand-in leaves out is its slicing of frames
        return FIXED_SIZE_PIL, _arguments(processor, rules, note="slicing off")
    return FIXED_SIZE_PIL, _arguments(processor, _run_source(model_type, processor, config, sides))


def navit_side(model_type: str) -> int | None:
    """The full preset's frame side: the processor's ``scale_resolution``, the side its checkpoints saw a
    frame at (read from its source: a torchvision-only one does not import here)."""
    processor = _processor(model_type)[0]
    values = (
        _class_values(_home_modules(model_type, processor), processor, ("scale_resolution",)) if processor else None
    )
    side = (values or {}).get("scale_resolution")
    return side if isinstance(side, int) else None


def _processor(model_type: str) -> tuple[str, bool]:
    """The image processor transformers maps to ``model_type``, its PIL variant where it has one ('' where none),
    and whether it is that PIL one (it runs here; a torchvision-only one is read from source)."""
    names = image_processors(model_type)
    return str(names.get("pil") or names.get("torchvision") or ""), bool(names.get("pil"))


def _pixels(frames: list[Any], mean: Any, std: Any, rescale: float = 1 / 255) -> Any:
    """Square uint8 frames rescaled and normalised as robovlms's fixed-size processor gives them."""
    import numpy as np
    import torch

    pixels = torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).float() * rescale
    mean, std = (torch.tensor(v, dtype=torch.float32).view(1, 3, 1, 1) for v in (mean, std))
    return (pixels - mean) / std


def _frames(side: int) -> list[Any]:
    import numpy as np

    frame = np.random.default_rng(side).integers(0, 256, size=(side, side, 3), dtype=np.uint8)
    return [frame, np.ascontiguousarray(frame[::-1])]


def _run_pil(processor: str, config: Any, sides: list[int]) -> dict[str, Any]:
    """The class's PIL processor run with ``scale_resolution`` each side and slicing off, against the core's
    packing and ``target_sizes``; its mean, std and resampling."""
    import torch
    import transformers

    from robovlms.model.target_sizes import TargetSizesBackbone

    probe = type("Probe", (), {"_vision": config.vision_config, "grid_thw": TargetSizesBackbone.grid_thw})()
    for side in sides:
        made = getattr(transformers, processor)(
            scale_resolution=side,
            patch_size=config.vision_config.patch_size,
            slice_mode=False,
            downsample_mode=config.downsample_mode,
        )
        theirs = made(_frames(side), return_tensors="pt")
        pixels = _pixels(_frames(side), made.image_mean, made.image_std, made.rescale_factor)
        ours = TargetSizesBackbone.patchify(probe, pixels)
        if theirs["pixel_values"].shape != ours.shape or not torch.allclose(theirs["pixel_values"], ours, atol=1e-5):
            raise ValueError(f"{processor} packs a square frame of side {side} otherwise than TargetSizesBackbone")
        if not torch.equal(theirs["target_sizes"].int(), TargetSizesBackbone.target_sizes(probe, pixels)):
            raise ValueError(f"{processor}'s target_sizes of a square frame of side {side} are not its patch grid")
    return {key: getattr(made, key) for key in ("image_mean", "image_std", "resample")}


def _run_source(model_type: str, processor: str, config: Any, sides: list[int]) -> dict[str, Any]:
    """A torchvision-only processor (MiniCPM-o OCR): its module imports torchvision, so its resizing rule
    (``find_best_resize``) and packing (``reshape_by_patch``) are compiled from its source and run, the first
    on the sides (with ``scale_resolution`` each side it must leave the frame as it is), the second against
    the core's packing; its ``small_image_upsize`` must be ``always`` (``adaptive`` reads glyphs with OpenCV)."""
    import torch

    from robovlms.model.target_sizes import TargetSizesBackbone

    modules = _home_modules(model_type, processor)
    resize = _compiled(modules, processor, "find_best_resize")  # with its module's ensure_divide
    pack = _compiled(modules, processor, "reshape_by_patch")
    keys = ("image_mean", "image_std", "resample", "small_image_upsize")
    rules = class_rules(modules, processor, keys)
    if resize is None or pack is None or rules is None:
        raise ValueError(
            f"{processor} needs torchvision and states no find_best_resize, reshape_by_patch and plain "
            f"{', '.join(keys)} to check a PIL stand-in by"
        )
    if rules["small_image_upsize"] != "always":
        raise ValueError(f"{processor} upsizes small images {rules['small_image_upsize']!r}, not always")
    probe = type("Probe", (), {"_vision": config.vision_config})
    patch = config.vision_config.patch_size
    for side in sides:
        size = resize(None, (side, side), side, patch, allow_upscale=True, downsample_mode=config.downsample_mode)
        if tuple(size) != (side, side):
            raise ValueError(f"{processor}'s find_best_resize changes a square frame of side {side}")
        pixels = _pixels(_frames(side), rules["image_mean"], rules["image_std"])
        theirs = torch.cat([pack(None, frame, patch) for frame in pixels], dim=-1)[None]
        if not torch.equal(theirs, TargetSizesBackbone.patchify(probe, pixels)):  # type: ignore[arg-type]
            raise ValueError(f"{processor}.reshape_by_patch packs otherwise than TargetSizesBackbone")
    return rules
