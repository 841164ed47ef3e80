"""Grid classes whose processor needs torchvision and hands the encoder patches row by row with their
``image_grid_hw``, the VLM merging them by a pixel shuffle of ``downsample_ratio`` after the encoder
(NemotronH Omni): the facts the generator needs, settled by running the processor's own code.

As for :mod:`robovlms.scaffold.raster`, the preset resizes every frame to one square side the class's rule
leaves as it is, and a fixed-size PIL processor carries the class's mean, std and resampling. The rule here
(``get_patch_grid_size``) scales a frame into a patch budget whose floor is ``min_num_patches`` (1024): the
full preset's side is the floor's square grid of the checkpoint's patches, and the tiny preset takes
patches of one pixel, so that its 32 and 48 pixel frames (1024 and 2304 patches) are in the budget too.
The processor's whole ``_preprocess`` runs from source (its module imports torchvision) on each side,
against :class:`~robovlms.model.patch_grid.PatchGridBackbone`'s patches and grid.
"""

from __future__ import annotations

import ast
import math
from typing import Any

from robovlms.scaffold.processors import FIXED_SIZE_PIL, class_rules
from robovlms.scaffold.raster import _arguments, _Backend, _compiled, _home_modules, _run_preprocess

#: the class attributes the check reads: the stand-in's, and the rule's
RULES = (
    "image_mean",
    "image_std",
    "resample",
    "downsample_ratio",
    "min_num_patches",
    "max_num_patches",
    "max_model_len",
)
#: the tiny preset's patch side in pixels: the class's floor of patches fits in a small frame
TINY_PATCH = 1


#: torchvision-only processors whose image inputs are more than raster patches and their grid: what they do that
#: neither :class:`~robovlms.model.patch_grid.PatchGridBackbone` nor a fixed-size PIL stand-in does
BEYOND_PATCH_GRID = {
    "Lfm2VlImageProcessor": (
        "LFM2-VL's get_image_features takes spatial_shapes and pixel_attention_mask: its torchvision-only "
        "processor (Lfm2VlImageProcessor, no PIL variant) resizes each frame by its smart_resize to between "
        "min_image_tokens 64 and max_image_tokens 256 tokens, tiles a larger one into 512-pixel tiles plus a "
        "thumbnail, and pads every frame's patches to max_num_patches (1024) with that mask, which "
        "robovlms.model.patch_grid.PatchGridBackbone does not; write image_inputs that pad the patches as it does "
        "and pass spatial_shapes and pixel_attention_mask, image_layout, and preset_image_processor, its "
        "_preprocess (resize_and_split, padding) checked on the frame side you choose"
    ),
    "Molmo2ImageProcessor": (
        "Molmo2's get_image_features takes image_token_pooling and image_grids: its torchvision-only processor "
        "(Molmo2ImageProcessor, no PIL variant) cuts each frame into up to max_crops 8 crops of 378 pixels that "
        "overlap by overlap_margins [4, 4] patches, plus one global view resized to 378, and the projector pools "
        "patches into tokens by the image_token_pooling indices of both grids; one raster grid of patches "
        "(robovlms.model.raster_grid) is not that: write image_inputs that build the crops, pooling indices and "
        "image_grids as it does, image_layout (the global view's tokens plus the crops'), and "
        "preset_image_processor"
    ),
}


def takes_patch_grid(features: set[str], config: Any) -> bool:
    """Whether ``get_image_features`` (its parameters ``features``) takes ``image_grid_hw`` for patches of an
    integer ``patch_size`` that a pixel shuffle of the config's ``downsample_ratio`` merges (NemotronH Omni)."""
    ratio = getattr(config, "downsample_ratio", None)
    return (
        "image_grid_hw" in features
        and isinstance(getattr(config.vision_config, "patch_size", None), int)
        and isinstance(ratio, float)
        and 0 < ratio < 1
    )


def tiny_patches(vision: dict[str, Any], default: Any, side: int) -> None:
    """Patches of :data:`TINY_PATCH` pixels in the tiny ``vision`` config (of the ``default`` one), and its
    position table (RADIO's ``max_img_size``, interpolated to each grid) at the tiny frame's ``side``: at its
    default 2048 pixels, patches of one pixel would make it 4M positions."""
    vision["patch_size"] = TINY_PATCH
    if hasattr(default, "max_img_size"):
        vision["max_img_size"] = side


def full_side(processor_rules: dict[str, Any], patch: int, merge: int) -> int:
    """The full preset's frame side: the smallest square grid of whole merged blocks at the floor of patches."""
    rows = math.ceil(math.sqrt(processor_rules["min_num_patches"]) / merge) * merge
    return rows * patch


def patch_grid_rules(model_type: str, processor: str) -> dict[str, Any]:
    """``processor``'s class attributes the check and the stand-in read; a ValueError where one is no value."""
    return _rules(_home_modules(model_type, processor), processor)


def _rules(modules: list[ast.Module], processor: str) -> dict[str, Any]:
    """:func:`patch_grid_rules` from ``processor``'s parsed modules."""
    rules = class_rules(modules, processor, RULES)
    if rules is None:
        raise ValueError(f"{processor} states no plain {', '.join(RULES)} as class attributes")
    return rules


def patch_grid_stand_in(model_type: str, processor: str, vision: Any, merge: int, sides: list[int]) -> tuple[str, str]:
    """The fixed-size PIL processor and its arguments that give ``processor``'s pixels and grid for square
    frames of ``sides`` at ``vision``'s patch size; a ValueError that says what differs where they would not."""
    import torch
    from transformers.image_processing_utils import BatchFeature
    from transformers.image_transforms import group_images_by_shape, reorder_images
    from transformers.image_utils import SizeDict

    from robovlms.model.patch_grid import PatchGridBackbone

    modules = _home_modules(model_type, processor)
    rules = _rules(modules, processor)
    more = {"BatchFeature": BatchFeature, "SizeDict": SizeDict}
    more |= {"group_images_by_shape": group_images_by_shape, "reorder_images": reorder_images}
    preprocess = _compiled(modules, processor, "_preprocess", more)  # with its module's helpers, these two among them
    helpers = {node.name for module in modules for node in module.body if isinstance(node, ast.FunctionDef)}
    if preprocess is None or not {"get_patch_grid_size", "convert_image_to_patches"} <= helpers:
        raise ValueError(f"{processor} has no _preprocess, get_patch_grid_size and convert_image_to_patches to check")
    if merge != round(1 / rules["downsample_ratio"]):
        raise ValueError(f"{processor}'s downsample_ratio {rules['downsample_ratio']} is not the model's merge {merge}")
    probe = type("Probe", (), {"_vision": vision, "merge_size": merge, "patch_layout": "rows_flat"})
    for side in sides:
        theirs, pixels = _run_preprocess(
            preprocess,
            _Resizeless,
            rules,
            side,
            resample=rules["resample"],
            patch_size=vision.patch_size,
            downsample_ratio=rules["downsample_ratio"],
            min_num_patches=rules["min_num_patches"],
            max_num_patches=rules["max_num_patches"],
            max_model_len=rules["max_model_len"],
            disable_grouping=None,
        )
        ours = PatchGridBackbone.patchify(probe, pixels)  # type: ignore[arg-type]
        grid = PatchGridBackbone.grid_thw(probe, pixels)[:, 1:]  # type: ignore[arg-type]
        if not (torch.equal(ours, theirs["pixel_values"]) and torch.equal(grid, theirs["image_grid_hw"])):
            raise ValueError(f"{processor} lays patches out otherwise than PatchGridBackbone's, row by row")
    return FIXED_SIZE_PIL, _arguments(processor, rules)


class _Resizeless(_Backend):
    """The backend for a frame the rule leaves at its size: resizing it would mean the fixed size is off."""

    def resize(self, *_: Any, **__: Any) -> Any:
        raise ValueError("the processor resizes a frame of the preset's side (out of its patch budget)")
