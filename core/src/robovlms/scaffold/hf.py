"""What ``robovlms new-plugin`` learns from a transformers VLM class.

The core writes the whole adapter for decoder-only VLMs whose image tokens take the place of
``config.image_token_id`` placeholders: a vision encoder and a language model under ``model.model``
(under whichever of transformers' names the class uses), and ``get_image_features`` for the image
tokens, with at most arguments that follow from a batch of square images of one size. The presets
are derived from the class's own config class: ``tiny`` shrinks every size of every sub-config
(under its own names: ``hidden_size`` or ``embed_dim``, ``num_hidden_layers`` or ``depth``, ...),
``full`` spells out transformers' defaults.

Other ways for images to enter are flags here, each answered by a core class the adapter
subclasses: Qwen-VL's grids (``grid``), ``token_type_ids`` (measured in
:mod:`robovlms.scaffold.token_types`), tiles at pinpoints (``tiles``), BLIP-2's Q-Former layout
(``qformer``), Kosmos-2's position mask (``masked``) and BLIP's cross-attention (``cross``).

Looks are not trusted: :mod:`robovlms.scaffold.check` runs the generated plugin once before it is
written. Whatever departs from the pattern, here or there, becomes the reason the generator writes
TODO stubs instead, so a class it calls known gets tests that pass without edits, and a class it
does not know gets a reason that says what the author must write.
"""

from __future__ import annotations

import difflib
import inspect
import math
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from robovlms.errors import RoboVLMsError, first_line
from robovlms.scaffold.chained import SIZED, chained, chained_settings
from robovlms.scaffold.checkpoint import checkpoint_settings, rope_for_each_kind, with_own_parts
from robovlms.scaffold.gated import TINY_GATES, gated_layout, tiled_cross_layout, tiled_cross_tiny
from robovlms.scaffold.layer_map import layer_map_layout, layer_map_presets
from robovlms.scaffold.navit import (
    canvas_markers,
    canvas_reason,
    navit_side,
    navit_stand_in,
    takes_target_sizes,
    tiny_navit,
)
from robovlms.scaffold.padded import padded_args, padded_side, tiny_queries, token_budget
from robovlms.scaffold.patch_grid import (
    BEYOND_PATCH_GRID,
    full_side,
    patch_grid_rules,
    patch_grid_stand_in,
    takes_patch_grid,
    tiny_patches,
)
from robovlms.scaffold.processors import FIXED_SIZE_PIL, grid_departures, grid_stand_in, sibling, torchvision_stand_in
from robovlms.scaffold.raster import (
    block_processor,
    block_stand_in,
    leftover_sizes,
    merged_width,
    native_side,
    raster_stand_in,
)
from robovlms.scaffold.shrink import (
    by_ending,
    dividing_heads,
    head_grouping,
    layer_kinds,
    open_head_dim,
    open_window,
    per_layer,
    pyramid,
    shuffled_widths,
    staged,
    staged_sizes,
)

#: sizes a tiny preset gives every sub-config, under each name transformers uses for them
TINY_SIZES = {
    "hidden_size": 64,
    "embed_dim": 64,
    "d_model": 64,
    "out_hidden_size": 64,
    "projection_dim": 64,
    "intermediate_size": 128,
    "ffn_dim": 128,
    "mlp_dim": 128,
    "num_hidden_layers": 2,
    "depth": 2,
    "num_attention_heads": 4,
    "num_heads": 4,
    "attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 16,
    # image tokens after pooling (Gemma 3): a tiny image has 4 x 4 patches
    "mm_tokens_per_image": 4,
    # a perceiver resampler (Idefics2)
    "resampler_depth": 2,
    "resampler_n_heads": 4,
    "resampler_head_dim": 16,
    # an audio encoder beside the towers (Qwen-Omni's thinkers), under Whisper's names
    "encoder_attention_heads": 4,
    "encoder_ffn_dim": 128,
    "encoder_layers": 2,
    "output_dim": 64,
    # an encoder-decoder language model's decoder (BART's names)
    "decoder_attention_heads": 4,
    "decoder_ffn_dim": 128,
    "decoder_layers": 2,
}
#: top-level sizes of the parts between the towers (a projector's inner width), by how their names end
TINY_INNER = ("intermediate_size", "projector_hidden_size")
#: the names under which a vision config counts its layers
LAYER_KEYS = ("num_hidden_layers", "depth", "layers", "num_layers")
TINY_IMAGE = {"image_size": 32, "patch_size": 8}
#: the other resolution the generated tests build ``tiny`` at (6 x 6 patches: pixel shuffles of 2 and 3 fit)
RESIZED = 48
TINY_VOCAB = 320
#: the stand-in tokenizer's special ids: three roles, then 256 bytes, then the image placeholder
TINY_ROLES = {"pad_token_id": 0, "eos_token_id": 1, "bos_token_id": 2}
TINY_IMAGE_TOKEN = 259
#: a tiny resampler's image tokens, where the config sets how many (Kosmos-2.5's latent_query_num)
TINY_LATENTS = 16
#: the marker before an image's placeholders where the class finds images by it (Qwen2.5-Omni's thinker)
TINY_VISION_START = 260
#: keys that size a model: the ones a person compares with the checkpoint's config.json
SIZE_KEYS = (*TINY_SIZES, "image_size", "patch_size", "vocab_size")
ROLE_KEYS = tuple(TINY_ROLES)
#: where transformers keeps the two towers inside ``model.model``, by the names its classes use
TEXT_TOWERS = ("language_model", "text_model")
VISION_TOWERS = ("vision_tower", "vision_model", "visual", "image_tower", "vision_encoder")
#: arguments of ``get_image_features`` (and the VLM's forward) that follow from square pixels of one size
IMAGE_INPUTS = {
    "image_sizes": "torch.tensor([list(pixels.shape[-2:])] * len(pixels), device=pixels.device)",
    "pixel_attention_mask": (
        "torch.ones(*pixels.shape[:-3], *pixels.shape[-2:], dtype=torch.bool, device=pixels.device)"
    ),
    # DeepSeek-VL-Hybrid's second encoder: robovlms.model.high_res.HighResBackbone makes the copy
    "high_res_pixel_values": "self.high_res_pixels(pixels)",
}
#: arguments that mean the number of image tokens follows each image: plugin API 1.2 (issue 15) territory
DYNAMIC_INPUTS = (
    "image_grid_thw",
    "grid_thw",
    "image_grid_hw",
    "spatial_shapes",
    "image_grids",
    "target_sizes",
    "aspect_ratio_ids",
)
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


@contextmanager
def _deriving(name: str) -> Iterator[None]:
    """Deriving the presets from the config class ``name``: a failure (a sub-config that cannot be built with its
    defaults, a size the shrinking gets wrong) becomes the one reason the CLI and the stubs give for it."""
    try:
        yield
    except Exception as exc:
        raise NotThePattern(f"cannot derive presets from {name}: {first_line(exc, with_type=True)}") from None


def _require_square(vision: Any, where: str, *, by_hand: bool = True) -> None:
    """NotThePattern unless the vision config ``vision`` (at ``where``) has an image_size and a patch_size: the
    presets set the resolution through them."""
    if not {"image_size", "patch_size"} <= set(_sizes(vision)):
        fix = "write preset_config by hand" if by_hand else "write preset_config"
        raise NotThePattern(f"{where} has no image_size and patch_size: {fix}")


@dataclass(frozen=True)
class HFClass:
    """A transformers model class and, if it follows the pattern, everything the adapter needs."""

    name: str
    config_class: str
    #: the image processor class (the PIL one: robovlms does not need torchvision)
    processor_class: str | None = None
    #: the processor's ``size`` argument as Python source, with ``size`` the preset's resolution
    processor_args: str = ""
    presets: dict[str, dict[str, Any]] | None = None
    #: the two towers' attribute names under ``model.model`` (the core's defaults unless found otherwise)
    text_tower: str = "language_model"
    vision_tower: str = "vision_tower"
    #: extra arguments of get_image_features and the forward, by name, as Python source over ``pixels``
    image_inputs: dict[str, str] = field(default_factory=dict)
    #: whether the class takes images per sample, ``(batch, images, 3, H, W)``, instead of ``(batch, 3, H, W)``
    image_axis: bool = False
    #: whether the number of image tokens stays the same at any resolution (a resampler's latents)
    fixed_tokens: bool = False
    #: whether images enter as grids of merged patches (``image_grid_thw``): the adapter is then a
    #: :class:`robovlms.model.grid.GridBackbone`, a :class:`robovlms.model.mrope.MRoPEBackbone` with ``mrope``
    grid: bool = False
    #: whether a grid class's positions are 3-D (M-RoPE, Qwen-VL's kin), laid out by its ``get_vision_position_ids``
    mrope: bool = False
    #: whether an M-RoPE class also feeds vision layers into the language model's first layers (Qwen3-VL's
    #: DeepStack): the adapter is then a :class:`robovlms.model.deepstack.DeepStackBackbone` (with ``rope_index``,
    #: a :class:`robovlms.model.rope_index_deepstack.RopeIndexDeepStackBackbone`: Qwen3-Omni's thinker)
    deepstack: bool = False
    #: whether an M-RoPE class lays positions out only in ``get_rope_index``, after a ``vision_start`` marker
    #: (Qwen2.5-Omni's thinker): the adapter is then a :class:`robovlms.model.rope_index.RopeIndexBackbone`
    rope_index: bool = False
    #: whether an M-RoPE class numbers text 1-D and an image's grid by column, row and image ordinal (HunYuan-VL):
    #: the adapter is then a :class:`robovlms.model.ordinal_rope.OrdinalRoPEBackbone`
    ordinal_rope: bool = False
    #: a grid class's :attr:`robovlms.model.grid.GridBackbone.patch_layout`, as its processor's ``patchify`` shows
    patch_layout: str = "merged"
    #: a grid class's tokens besides one per merged block, (per row, per image): see robovlms.scaffold.row_tokens
    extra_tokens: tuple[int, int] = (0, 0)

    #: whether a grid class's encoder merges raster-ordered patches itself (Muse Glimmer): the adapter is then a
    #: :class:`robovlms.model.raster_grid.RasterGridBackbone`, every frame resized to one side of :attr:`sides`
    raster: bool = False
    #: whether a raster grid class takes one block of pixels per image token (Inkling 2): the adapter is then a
    #: :class:`robovlms.model.raster_grid.TokenGridBackbone`
    blocks: bool = False
    #: whether a raster grid class takes ``image_grid_hw`` and merges by a pixel shuffle (NemotronH Omni): the
    #: adapter is then a :class:`robovlms.model.patch_grid.PatchGridBackbone`
    patch_grid: bool = False

    #: whether a grid class takes NaViT-packed patches with ``target_sizes`` (MiniCPM-V 4.6): the adapter is then a
    #: :class:`robovlms.model.target_sizes.TargetSizesBackbone`, every frame resized to one side of :attr:`sides`
    navit: bool = False
    #: whether such a class's positions are canvas M-RoPE's, found by markers around each image (MiniCPM-V 4.7):
    #: the adapter is then a :class:`robovlms.model.canvas_rope.CanvasRoPEBackbone`
    canvas: bool = False
    #: each preset's frame side, for a raster grid class's fixed-size processor
    sides: dict[str, int] = field(default_factory=dict)
    #: the pixel budget ``(min_pixels, max_pixels)`` of each preset, for a grid class's processor
    budgets: dict[str, tuple[int, int]] = field(default_factory=dict)
    #: the sense in which the VLM reads ``token_type_ids`` (prefix-LM or image blocks), measured on a tiny
    #: model; the adapter is then a :class:`robovlms.model.token_types.TokenTypeBackbone`
    token_types: str | None = None
    #: whether the VLM tiles each image at ``image_grid_pinpoints``: the adapter is then a
    #: :class:`robovlms.model.tiles.TiledBackbone`
    tiles: bool = False
    #: whether the parts sit at the model's top level around a Q-Former (BLIP-2): the adapter is then a
    #: :class:`robovlms.model.qformer.QFormerBackbone`
    qformer: bool = False
    #: whether that Q-Former reads the instruction too (``qformer_input_ids``, InstructBLIP): the adapter is
    #: then a :class:`robovlms.model.qformer.InstructedQFormerBackbone`
    instructed: bool = False
    #: whether the parts sit at the model's top level around a projector (Llama 4): the adapter is then a
    #: :class:`robovlms.model.top_level.TopLevelBackbone`
    top_level: bool = False
    #: whether the image tokens enter the encoder of an encoder-decoder language model (Florence-2): the adapter
    #: is then a :class:`robovlms.model.encoder_fusion.EncoderFusionBackbone`
    encoder: bool = False
    #: whether the config nests the encoder's vision and text configs under ``encoder`` and the decoder's sizes
    #: under ``decoder`` (T5Gemma 2), for an ``encoder`` class
    nested: bool = False
    #: whether image positions are a mask (``image_embeds_position_mask``, Kosmos-2): the adapter is then a
    #: :class:`robovlms.model.position_mask.PositionMaskBackbone`
    masked: bool = False
    #: whether a text decoder cross-attends the vision encoder's states (BLIP): the adapter is then a
    #: :class:`robovlms.model.encoder_states.EncoderStatesBackbone`
    cross: bool = False
    #: the encoder output the decoder of an encoder-decoder whose encoder reads only the image cross-attends
    #: (measured in :mod:`robovlms.scaffold.encoder_output`): the adapter is then a
    #: :class:`robovlms.model.image_encoder_decoder.ImageEncoderDecoderBackbone`
    encoder_output: str | None = None
    #: whether that encoder reads Pix2Struct's ``flattened_patches``: the adapter is then a
    #: :class:`robovlms.model.flattened_patches.FlattenedPatchesBackbone`
    flattened: bool = False

    #: whether images become VQ codes that the word embedding embeds (Chameleon): the adapter is then a
    #: :class:`robovlms.model.vq_codes.VQCodesBackbone`
    vq: bool = False
    #: whether each image patch is projected linearly at a placeholder, with no vision encoder (Fuyu): the adapter
    #: is then a :class:`robovlms.model.linear_patches.LinearPatchBackbone`
    linear_patches: bool = False
    #: whether gated cross-attention layers read the images under the model's own image mask (Idefics): the
    #: adapter is then a :class:`robovlms.model.cross_attention.CrossAttentionBackbone`
    gated: bool = False
    #: whether the images come in tiles, read under a cross-attention mask per image and tile (Mllama): the adapter
    #: is then a :class:`robovlms.model.cross_attention.TiledCrossAttentionBackbone`
    cross_tiles: bool = False
    #: the dotted path to the config that holds the resolution, where not ``vision_config`` (a SAM that a second
    #: encoder reads, DeepSeek-OCR 2: robovlms.scaffold.chained)
    sized: str = "vision_config"

    #: whether the image states go in front of the text, with no placeholder id (GIT): the adapter is then a
    #: :class:`robovlms.model.prepended.PrependedImageBackbone`
    prepended: bool = False

    #: the config entry that holds a whole VLM's config (PI0's ``vlm_config``), and that VLM's attribute under
    #: ``model.model`` (PI0's ``vlm``): the adapter is then a :class:`robovlms.model.inner_vlm.InnerVLMBackbone`
    inner_config: str | None = None
    inner_vlm: str | None = None

    #: whether the processor keeps the aspect ratio and pads to a square with a pixel_mask (Aria): the adapter is
    #: then a :class:`robovlms.model.padded.PaddedSquareBackbone`
    padded: bool = False

    #: whether a class without grids feeds vision layers into the language model's first layers and takes its
    #: images as tiles per sample (GraniteDocling): the adapter is then a
    #: :class:`robovlms.model.deepstack_tiles.TiledDeepStackBackbone`, a frame one tile
    deepstack_tiles: bool = False
    #: whether a tiled class's images enter its language model only as features at layers of their own (Granite 4
    #: Vision's deepstack_layer_map): the adapter is then a :class:`robovlms.model.layer_map.LayerMapBackbone`
    layer_map: bool = False

    #: whether the encoder takes patches with their positions and the language model per-layer inputs (Gemma 4):
    #: the adapter is then a :class:`robovlms.model.positioned_patches.PositionedPatchBackbone`
    positioned: bool = False
    #: why the class is not of the pattern; None when it is
    reason: str | None = None

    @property
    def title(self) -> str:
        """``InternVLForConditionalGeneration`` -> ``InternVL``, for the adapter's class name."""
        for suffix in ("ForConditionalGeneration", "ForVisionText2Text", "ForCausalLM", "Model"):
            if self.name.endswith(suffix) and self.name != suffix:
                return self.name[: -len(suffix)].rstrip("_")
        return self.name


def resolve(name: str) -> type:
    """The transformers model class called ``name``, or a one-line error (with a guess if one is close)."""
    try:
        import transformers
        from transformers import PreTrainedModel
    except ImportError as exc:
        raise RoboVLMsError(
            f"--hf-class needs transformers, which does not import here ({first_line(exc)}); "
            "pip install 'transformers>=5' or leave --hf-class out for stubs"
        ) from None
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


def facts(cls: type[Any]) -> HFClass:
    """What the class's config and signatures say; a departure from the pattern becomes ``reason``."""
    try:
        return _pattern(cls)
    except NotThePattern as exc:
        return HFClass(cls.__name__, cls.config_class.__name__, reason=str(exc))


def _pattern(cls: type[Any]) -> HFClass:
    config_class = cls.config_class
    name = config_class.__name__
    try:
        default = config_class()
    except Exception as exc:
        raise NotThePattern(f"{name}() fails: {first_line(exc, with_type=True)}") from None
    subs = set(getattr(config_class, "sub_configs", {}) or {})
    # an encoder-decoder whose encoder reads the image tokens at placeholders with the text (Florence-2)
    encoder = getattr(default, "is_encoder_decoder", False)
    if encoder and _nested(default):
        return _nested_class(cls, default)
    if encoder and not ({"vision_config", "text_config"} <= subs and hasattr(default, "image_token_id")):
        return _image_encoder_class(cls, default)
    forward = inspect.signature(cls.forward).parameters
    text = getattr(default, "text_config", None)
    cross = isinstance(getattr(text, "encoder_hidden_size", None), int) and getattr(text, "is_decoder", False)
    masks = {"cross_attention_mask", "image_attention_mask"} & set(forward)
    if cross and not masks:  # BLIP: the decoder reads the encoder's states (robovlms.model.encoder_states)
        return _encoder_states_class(cls, default)
    if gated_layout(cls, default):  # Idefics: robovlms's image_attention_mask is the model's own
        return _gated_class(cls, default)
    cross_tiles = tiled_cross_layout(cls)  # Mllama: a square frame is one tile
    if (cross or masks) and not cross_tiles:
        # a mask of its own per image (and per tile): robovlms's image_attention_mask must become it
        which = f" under its own {' and '.join(sorted(masks))}" if masks else ""
        per_tile = (
            " per image and tile (each image cut into tiles, with aspect_ratio_ids and aspect_ratio_mask)"
            if "aspect_ratio_ids" in forward
            else ""
        )
        raise NotThePattern(
            f"{cls.__name__} reads images through cross-attention layers{which}{per_tile}, not tokens in the sequence: "
            "subclass robovlms.model.cross_attention.CrossAttentionBackbone (Idefics's, whose image_attention_mask "
            "is robovlms's own) and write model_encode_images, forward_text that turns image_attention_mask into "
            "that mask, and reference_inputs"
        )
    if "vision_config" not in subs:
        raise NotThePattern(_no_vision(cls, name, default, subs))
    if "text_config" not in subs:
        raise NotThePattern(
            f"{name} has a vision_config but no text_config: the language model's sizes sit at the config's top "
            "level and it is no sub-model of its own; write preset_config for those sizes, text_tower, and "
            "model_encode_images and prompt for how its forward joins the image to the text" + _prepended(default)
        )
    # some configs leave the id to the checkpoint (None), some keep it under another name; the presets choose one
    aliased = "image_token_id" in (getattr(config_class, "attribute_map", None) or {})
    # Kosmos-2 marks its image positions with a mask (robovlms.model.position_mask.PositionMaskBackbone)
    masked = "image_embeds_position_mask" in forward
    # InstructBLIP-Video: a clip's Q-Former tokens at video_token_id placeholders (one frame is a clip of one)
    clips = _instructed_clips(cls)
    if (
        "image_token_id" not in default.to_dict()
        and not aliased
        and not masked
        and not clips
        and not isinstance(getattr(default, "image_token_id", None), int)
    ):
        raise NotThePattern(_no_placeholder(cls, default))
    # tiles at pinpoints (LLaVA-NeXT's kin): robovlms.model.tiles.TiledBackbone makes a square frame one tile
    tiles = bool(getattr(default, "image_grid_pinpoints", None))
    # features per language-model layer from tiles (Granite 4 Vision): robovlms.model.layer_map.LayerMapBackbone
    layer_map = layer_map_layout(default)
    if layer_map and not tiles:
        raise NotThePattern(_layer_map(cls, default))
    default = with_own_parts(default)
    for sub in ("vision_config", "text_config"):
        if getattr(default, sub) is None:
            raise NotThePattern(f"{name}() leaves {sub} unset (None): write preset_config with the checkpoint's")
    vision, features = default.vision_config, _feature_inputs(cls)
    # raster patches with image_grid_hw, merged by a pixel shuffle after the encoder (NemotronH Omni)
    if takes_patch_grid(features, default):
        return _patch_grid_class(cls, default)
    if takes_target_sizes(features, default):  # MiniCPM-V 4.6: NaViT-packed with target_sizes
        return _navit_class(cls, default)
    raster, grid = _raster(features, vision), _grid(features, vision)
    # raster patches (Muse Glimmer, Kimi K2.5) or one block of pixels per token (Inkling 2) from torchvision only
    blocks = block_processor(default.model_type, vision) if raster or grid else None
    if raster or (grid and blocks):
        return _raster_grid_class(cls, default, blocks=blocks is not None)
    if grid:
        return _grid_class(cls, default)
    if masked and "flattened_patches" in forward:  # Kosmos-2.5 (robovlms.model.flattened_patches)
        return _flattened_masked_class(cls, default)
    # DeepStack over 1-D positions, a frame one tile (GraniteDocling): robovlms.model.deepstack_tiles
    deepstack_tiles = bool(getattr(vision, "deepstack_visual_indexes", None))
    if deepstack_tiles and "pixel_attention_mask" not in features:
        raise NotThePattern(_deepstack_without_grid(cls, vision))
    image_inputs = {} if clips or cross_tiles or deepstack_tiles else _image_inputs(cls)
    sizes = _sizes(vision)
    if "patch_size" in sizes and "image_size" not in sizes and not staged(vision):
        raise NotThePattern(
            f"{name}.vision_config has patch_size {sizes['patch_size']} but no image_size: the encoder takes each "
            "image at its own resolution, so the number of image tokens follows the image; the prompt must be built "
            "from each image's grid (prompt with the image known, plugin API 1.2)" + _processor_note(default.model_type)
        )
    chain = chained(vision)  # a SAM, then an encoder that reads its output (robovlms.scaffold.chained)
    if not {"image_size", "patch_size"} <= set(sizes) and not staged(vision) and not chain:
        raise NotThePattern(_unsized(name, vision, sizes))
    processor, args = _processor(default.model_type)
    with _deriving(name):
        presets = {"tiny": _tiny(default), "full": _full(default)}
    for preset, settings in presets.items() if chain else ():
        part = _tiny_part if preset == "tiny" else _settings
        settings["vision_config"].update(chained_settings(vision, part, tiny=preset == "tiny"))
    if "high_res_pixel_values" in image_inputs:
        presets["tiny"]["high_res_vision_config"].update(_tiny_high_res(presets["tiny"]))
    if cross_tiles:
        tiled_cross_tiny(presets["tiny"], TINY_SIZES["num_attention_heads"])
    padded = padded_side(processor) is not None
    if padded:
        sides = (presets["tiny"]["vision_config"]["image_size"], RESIZED)
        presets["tiny"].update(tiny_queries(default, presets["tiny"]["vision_config"], sides))

    if layer_map:
        layer_map_presets(presets, default)
    if deepstack_tiles:  # its pixel shuffle needs the patches per side (4 and 6 at sides 32 and 48) to divide
        presets["tiny"]["vision_config"]["scale_factor"] = 2
    for settings in presets.values() if clips else ():  # the clip's placeholder is the presets' image token
        settings["video_token_id"] = settings["image_token_id"]
    return HFClass(
        cls.__name__,
        name,
        processor,
        args,
        presets,
        image_inputs=image_inputs,
        tiles=tiles,
        masked=masked,
        encoder=encoder,
        instructed="qformer_input_ids" in forward,
        cross_tiles=cross_tiles,
        sized=SIZED if chain else "vision_config",
        padded=padded,
        deepstack_tiles=deepstack_tiles,
        layer_map=layer_map,
    )


def _deepstack_without_grid(cls: type[Any], vision: Any) -> str:
    """Why DeepStack in a class without Qwen-VL's grids and without GraniteDocling's tiles is not covered."""
    return (
        f"{cls.__name__}'s vision layers {list(vision.deepstack_visual_indexes)} (deepstack_visual_indexes) enter "
        "the language model's first layers (DeepStack, as deepstack_visual_embeds) without Qwen-VL's grids and "
        "M-RoPE, and its get_image_features takes no pixel_attention_mask per tile: "
        "robovlms.model.deepstack.DeepStackBackbone assumes grids and M-RoPE, "
        "robovlms.model.deepstack_tiles.TiledDeepStackBackbone a frame as one tile under that mask; subclass the "
        "latter and write image_inputs with the image inputs its get_image_features takes"
    )


def _prepended(default: Any) -> str:
    """What a config without ``text_config`` and ``image_token_id`` (GIT's) does with the image instead."""
    if hasattr(default, "image_token_id"):
        return ""
    return (
        ": it has no image_token_id, and its forward puts the projected image states in front of the text "
        "embeddings (word and position embeddings, the positions counted over the text alone), the image tokens "
        "attending each other both ways and the text attending them and itself causally; write embed_prompt "
        "that prepends them and forward_text with that mask"
    )


def _encoder_decoder(cls: type[Any], default: Any) -> str:
    """Why an encoder-decoder is not Florence-2's kind, whose encoder reads image tokens with the text."""
    forward = set(inspect.signature(cls.forward).parameters)
    what = f"{cls.__name__} is an encoder-decoder"
    if "bbox" in forward:
        return (
            f"{what} whose encoder reads the image's patches with the text tokens, each token placed by its box "
            "on the page (bbox, from OCR), which a camera frame's instruction does not have (its processor gives a "
            "question's tokens the zero box, pad_token_box); the encoder adds to each token the patch under its "
            "box's centre and appends the other patches (combine_image_text_embeddings), so no placeholders hold "
            "the image; write embed_prompt with boxes for the instruction that does that merge, and "
            "reference_inputs that pass bbox and visual_bbox"
        )
    nested = getattr(default, "encoder", None)
    if all(hasattr(nested, sub) for sub in ("vision_config", "text_config", "image_token_id")):
        return (
            f"{what} whose encoder reads image tokens at image_token_id placeholders with the text, as "
            "Florence-2's (robovlms.model.encoder_fusion.EncoderFusionBackbone), but its config nests vision_config "
            "and text_config under encoder and the decoder's sizes under decoder, where the presets are not "
            "derived; write preset_config for that layout and subclass EncoderFusionBackbone"
        )
    image = "flattened_patches" if "flattened_patches" in forward else "pixel_values"
    return (
        f"{what} whose encoder reads only the image ({image}); the text enters only its decoder, which "
        "cross-attends the encoder's states, so the decoder is the fusion module, not a multimodal encoder; "
        "write text_tower (the decoder), forward_text that hands it the image states as encoder_hidden_states "
        "(robovlms.model.encoder_states.EncoderStatesBackbone's pattern), and reference_forward from its own "
        "forward's decoder_hidden_states"
    )


def _nested(default: Any) -> bool:
    """Whether an encoder-decoder's config nests the multimodal encoder's configs under ``encoder`` (T5Gemma 2)."""
    nested = getattr(default, "encoder", None)
    return all(hasattr(nested, sub) for sub in ("vision_config", "text_config", "image_token_id")) and hasattr(
        getattr(default, "decoder", None), "hidden_size"
    )


def _nested_class(cls: type[Any], default: Any) -> HFClass:
    """The facts of an encoder-decoder whose config nests the encoder's vision and text configs under ``encoder``
    and the decoder's sizes under ``decoder`` (T5Gemma 2): the encoder's presets are derived as a decoder-only
    VLM's, and the decoder takes the encoder's text sizes (its cross-attention reads the encoder's states, and
    the config requires the two as wide, over one vocabulary)."""
    name = type(default).__name__
    encoder, decoder = default.encoder, default.decoder
    _require_square(encoder.vision_config, f"{name}.encoder.vision_config", by_hand=False)
    processor, args = _processor(default.model_type)
    with _deriving(name):
        presets = {}
        for preset, derive in (("tiny", _tiny), ("full", _full)):
            inner = derive(encoder)
            text = {key: value for key, value in inner["text_config"].items() if key != "model_type"}
            presets[preset] = {
                "encoder": inner,
                "decoder": {"model_type": decoder.model_type, **_architecture(decoder), **text},
                "image_token_id": inner["image_token_id"],
            }
    return HFClass(cls.__name__, name, processor, args, presets, encoder=True, nested=True)


def _image_encoder_class(cls: type[Any], default: Any) -> HFClass:
    """The facts of an encoder-decoder whose encoder reads only the image (PP-FormulaNet): BLIP's layout
    under other names; which encoder output its decoder reads is measured on the tiny model."""
    forward = set(inspect.signature(cls.forward).parameters)
    subs = set(getattr(type(default), "sub_configs", {}) or {})
    if "flattened_patches" in forward and {"vision_config", "text_config"} <= subs:
        return _flattened_class(cls, default)
    if "bbox" in forward or "pixel_values" not in forward:
        raise NotThePattern(_encoder_decoder(cls, default))
    if {"encoder", "decoder"} <= subs:
        return _towers_class(cls, default)
    if not {"vision_config", "text_config"} <= subs:
        raise NotThePattern(_encoder_decoder(cls, default))
    return replace(_encoder_states_class(cls, default), encoder_output="last_hidden_state")


#: Pix2Struct's preprocessing, which the preset's processor and the adapter split between them
FLATTENED_PROCESSOR = (
    FIXED_SIZE_PIL,
    """
        # Pix2StructImageProcessorPil resizes each image to a patch budget (max_patches), standardises it on
        # its own and flattens its patches; here the frame takes the preset's square, and the adapter flattens it
        size={"height": size, "width": size},
        image_mean=[0.5, 0.5, 0.5],
        image_std=[0.5, 0.5, 0.5],
    """,
)


def _flattened_class(cls: type[Any], default: Any) -> HFClass:
    """Pix2Struct: an encoder-decoder whose encoder reads only the image, as flattened patches."""
    processor, args = FLATTENED_PROCESSOR
    presets = _flattened_presets(default)
    return HFClass(
        cls.__name__,
        type(default).__name__,
        processor,
        args,
        presets,
        cross=True,
        encoder_output="last_hidden_state",
        flattened=True,
    )


def _flattened_masked_class(cls: type[Any], default: Any) -> HFClass:
    """Kosmos-2.5: Kosmos-2's position mask (``masked``) over flattened patches, a few resampled tokens in tiny."""
    processor, args = FLATTENED_PROCESSOR
    presets = _flattened_presets(default)
    if isinstance(getattr(default, "latent_query_num", None), int):
        presets["tiny"]["latent_query_num"] = TINY_LATENTS
    return HFClass(cls.__name__, type(default).__name__, processor, args, presets, masked=True, flattened=True)


def _flattened_presets(default: Any) -> dict[str, dict[str, Any]]:
    """Flattened patches' presets: the vision config has no image or patch size (its processor's patch side is the
    encoder's input width, ``3 * p * p``); the presets state both, at the tiny preset's resolution or the
    processor's patches."""
    name = type(default).__name__
    patch = TINY_IMAGE["patch_size"]
    with _deriving(name):
        presets = {"tiny": _tiny(default), "full": _full(default)}
    full_patch = math.isqrt(default.vision_config.patch_embed_hidden_size // 3)
    for preset, side, size in (("tiny", patch, TINY_IMAGE["image_size"]), ("full", full_patch, 32 * full_patch)):
        presets[preset]["vision_config"].update(
            image_size=size, patch_size=side, patch_embed_hidden_size=3 * side * side
        )
    # T5's names the shrinking does not know: layers, the heads' width (its attention splits hidden_size by it)
    t5 = {
        "num_layers": TINY_SIZES["num_hidden_layers"],
        "d_kv": TINY_SIZES["hidden_size"] // TINY_SIZES["num_attention_heads"],
        "d_ff": TINY_SIZES["intermediate_size"],
    }
    for sub in ("vision_config", "text_config"):
        part = getattr(default, sub)
        presets["tiny"][sub].update({key: value for key, value in t5.items() if hasattr(part, key)})
    # rows and columns are numbered up to seq_len (Kosmos-2.5: max_num_patches): room for the tests' larger frames
    for key in ("seq_len", "max_num_patches"):
        if hasattr(default.vision_config, key):
            presets["tiny"]["vision_config"][key] = TINY_SIZES["hidden_size"]
    return presets


@dataclass
class _Towers:
    """``VisionEncoderDecoderConfig``'s ``encoder`` and ``decoder`` under the names the presets are derived by."""

    vision_config: Any
    text_config: Any
    model_type: str

    def to_dict(self) -> dict[str, Any]:
        """No sizes of its own at the top level: the config is its two towers."""
        return {}


def _towers_class(cls: type[Any], default: Any) -> HFClass:
    """``VisionEncoderDecoderModel``: any vision encoder (``encoder``) and any text decoder (``decoder``), whose
    presets are derived as a VLM's ``vision_config`` and ``text_config`` are, and kept under their own names."""
    name = type(default).__name__
    towers = _Towers(default.encoder, default.decoder, default.encoder.model_type)
    _require_square(towers.vision_config, f"{name}.encoder")
    processor, args = _processor(towers.model_type)
    renamed = {"vision_config": "encoder", "text_config": "decoder"}
    with _deriving(name):
        presets = {
            preset: {renamed.get(key, key): value for key, value in derive(towers).items()}
            for preset, derive in (("tiny", _tiny), ("full", _full))
        }
    return HFClass(cls.__name__, name, processor, args, presets, cross=True, encoder_output="last_hidden_state")


def _encoder_states_class(cls: type[Any], default: Any) -> HFClass:
    """The facts of a class whose text decoder cross-attends the vision encoder's states (BLIP)."""
    name = type(default).__name__
    _require_square(default.vision_config, f"{name}.vision_config")
    processor, args = _processor(default.model_type)
    with _deriving(name):
        presets = {"tiny": _tiny(default), "full": _full(default)}
    return HFClass(cls.__name__, name, processor, args, presets, cross=True)


def _grid_thw_alone(names: set[str], vision: Any) -> bool:
    """Whether a class whose ``get_image_features`` takes ``names`` takes ``image_grid_thw`` alone beside the
    pixels, from a vision config with an integer ``patch_size``: what both kinds of grid class share."""
    return (
        "image_grid_thw" in names
        and not names & (set(DYNAMIC_INPUTS) - {"image_grid_thw"})
        and isinstance(getattr(vision, "patch_size", None), int)
    )


def _grid(names: set[str], vision: Any) -> bool:
    """Whether a class whose ``get_image_features`` takes ``names`` takes Qwen-VL's image format:
    ``image_grid_thw`` alone beside the pixels, and merged patches (what :class:`GridBackbone` makes); its
    positions are then M-RoPE's or plain text's."""
    return (
        _grid_thw_alone(names, vision)
        # the merge is the vision config's, or the processor's that the model takes per image (VideoLLaMA 3)
        and (isinstance(getattr(vision, "spatial_merge_size", None), int) or "image_merge_sizes" in names)
    )


def _feature_inputs(cls: type[Any]) -> set[str]:
    """The parameters of ``get_image_features``, on the class or its inner model."""
    found = [getattr(c, "get_image_features", None) for c in (cls, _inner_class(cls)) if c is not None]
    return {p for f in found if callable(f) for p in inspect.signature(f).parameters}


def _raster(names: set[str], vision: Any) -> bool:
    """Whether a class whose ``get_image_features`` takes ``names`` takes ``image_grid_thw`` alone from an encoder
    that merges raster-ordered patches itself (Muse Glimmer, Kimi K2.5): its vision config has an integer
    ``patch_size`` and a ``merge_size`` or square ``merge_kernel_size``
    (:func:`robovlms.model.raster_grid.raster_merge`), no ``spatial_merge_size``."""
    from robovlms.model.raster_grid import raster_merge

    return (
        _grid_thw_alone(names, vision)
        and raster_merge(vision) is not None
        and getattr(vision, "spatial_merge_size", None) is None
    )


def _dynamic_reason(cls: type[Any], dynamic: list[str], takes: set[str]) -> str:
    """Why a class whose image tokens follow each image's grid is not one :class:`GridBackbone` covers."""
    from transformers.models.auto.image_processing_auto import IMAGE_PROCESSOR_MAPPING_NAMES as IMAGES

    default = cls.config_class()
    if dynamic == ["image_grid_thw"]:
        vision = default.vision_config
        has = {key: getattr(vision, key, None) for key in ("patch_size", "spatial_merge_size", "merge_kernel_size")}
        found = ", ".join(f"{key} {value}" for key, value in has.items() if value is not None) or "no sizes"
        others = ", ".join(sorted(takes - {"pixel_values", "image_grid_thw", "kwargs"}))
        why = (
            f"get_image_features takes image_grid_thw (Qwen-VL's image format), but {type(vision).__name__} has "
            f"{found}, not the integer patch_size and spatial_merge_size (or image_merge_sizes from the processor) "
            f"that robovlms.model.grid.GridBackbone cuts and merges patches by"
            f"{f', and it also takes {others}' if others else ''}: subclass GridBackbone with image_layout, "
            "patchify and model_encode_images for its merge"
        )
    else:
        why = (
            f"get_image_features also needs {', '.join(dynamic)}: the number of image tokens follows each image's "
            "grid as its processor computes it (no Qwen-VL image_grid_thw); write image_layout (tokens per frame), "
            "prompt(instruction, image) and model_encode_images and reference_inputs that pass "
            f"{', '.join(dynamic)} (robovlms.model.grid.GridBackbone does this for image_grid_thw)"
        )
    processor = (IMAGES.get(default.model_type) or {}).get("torchvision")
    return BEYOND_PATCH_GRID.get(str(processor), why + _processor_note(default.model_type))


def _processor_note(model_type: str) -> str:
    """What is wrong with the class's processor too, for a reason that names another departure first."""
    try:
        _processor_name(model_type)
    except NotThePattern as exc:
        return f"; besides, {exc}"
    return ""


def _grid_class(cls: type[Any], default: Any) -> HFClass:
    """The facts of a grid class: its PIL processor keeps a pixel budget, tiny's the square of 32 pixels."""
    import transformers

    name = type(default).__name__
    # a torchvision-only processor whose code is Qwen2-VL's: Qwen2-VL's PIL one with its budget, mean and std
    stand_in = grid_stand_in(default.model_type)
    processor, args = stand_in[:2] if stand_in else (_processor_name(default.model_type), "")
    try:
        made = getattr(transformers, processor)()
        size = stand_in[2] if stand_in else dict(made.size or {})
    except Exception as exc:
        raise NotThePattern(f"{processor}() fails: {first_line(exc, with_type=True)}") from None
    merge = getattr(default.vision_config, "spatial_merge_size", None) or getattr(made, "merge_size", None)
    if not isinstance(merge, int):
        raise NotThePattern(f"neither {name}.vision_config nor {processor} says how many patches make a token")
    token_rule = None if stand_in else token_budget(processor)
    if token_rule is not None:  # GLM-5 Next's budget of image tokens, each frame padded to whole blocks
        size, args = token_rule
    if not {"shortest_edge", "longest_edge"} <= set(size):
        tokens = [
            key for key in ("min_image_tokens", "max_image_tokens") if hasattr(getattr(transformers, processor), key)
        ]
        budget = (
            f"a budget of image tokens ({', '.join(tokens)}) and pads each frame to it" if tokens else "no pixel budget"
        )
        raise NotThePattern(
            f"{processor} keeps {budget} (size={size}), not Qwen-VL's pixel budget (shortest_edge, longest_edge) that "
            "robovlms's ImageProcessor follows: write preset_image_processor and image_layout for its rule"
        )
    inner = _inner_class(cls)
    block_positions: Any = getattr(inner, "get_vision_position_ids", None)
    mrope = callable(block_positions)
    # HunYuan-VL's lays out a grid without a start: its text is numbered 1-D and images by ordinal (OrdinalRoPEBackbone)
    ordinal = mrope and "start_position" not in inspect.signature(block_positions).parameters
    rope_index = not mrope and inner is not None and callable(getattr(inner, "get_rope_index", None))
    positioned: Any = inner  # a class with get_rope_index where rope_index
    rope_source = inspect.getsource(positioned.get_rope_index) if rope_index else ""
    if rope_index and "vision_start_token_id" not in rope_source:
        raise NotThePattern(
            f"{cls.__name__}'s positions are 3-D (M-RoPE), but it has no get_vision_position_ids to lay out one "
            "image's block (robovlms.model.mrope.MRoPEBackbone calls it) and its get_rope_index does not find "
            "images by the vision_start markers robovlms.model.rope_index.RopeIndexBackbone writes: write prompt "
            f"and text_inputs with the positions of {getattr(inner, '__name__', '')}.get_rope_index"
        )
    with _deriving(name):
        presets = {"tiny": _tiny(default, mrope=mrope or rope_index), "full": _full(default)}
    if rope_index:  # the marker get_rope_index finds images by, in the tiny vocabulary (the config may lack it)
        presets["tiny"]["vision_start_token_id"] = TINY_VISION_START
    factor = TINY_IMAGE["patch_size"] * merge
    tiny_side = -(-TINY_IMAGE["image_size"] // factor) * factor
    budgets = {"tiny": (factor * factor, tiny_side * tiny_side), "full": (size["shortest_edge"], size["longest_edge"])}
    from robovlms.scaffold.patches import patch_layout

    try:
        layout = patch_layout(processor, default.vision_config, merge)
    except ValueError as exc:
        raise NotThePattern(str(exc)) from None
    deepstack = (mrope or rope_index) and bool(getattr(default.vision_config, "deepstack_visual_indexes", None))
    return HFClass(
        cls.__name__,
        name,
        processor,
        args,
        presets,
        grid=True,
        mrope=mrope or rope_index,
        deepstack=deepstack,
        rope_index=rope_index,
        ordinal_rope=ordinal,
        budgets=budgets,
        patch_layout=layout,
    )


def _layer_map(cls: type[Any], default: Any) -> str:
    """Why a class that adds image features at language-model layers of its own choosing (Granite 4 Vision's
    ``deepstack_layer_map``) without LLaVA-NeXT's tiles is not the pattern."""
    name = type(default).__name__
    unset = [key for key in ("deepstack_layer_map", "downsample_rate") if getattr(default, key, None) is None]
    left = f"; {name} leaves {' and '.join(unset)} to the checkpoint (None): write preset_config too" if unset else ""
    return (
        f"{cls.__name__}'s image features enter its language model only at layers of their own (get_image_features "
        "returns features per language-model layer, deepstack_layer_map), and it has no image_grid_pinpoints: "
        "robovlms.model.layer_map.LayerMapBackbone does this for LLaVA-NeXT's tiles; subclass it and write "
        f"image_inputs for this class's image path{left}"
    )


def _raster_grid_class(cls: type[Any], default: Any, blocks: bool) -> HFClass:
    """The facts of a raster grid class (Muse Glimmer's kin): frames of one square side, the class's
    torchvision-only processor carried by a fixed-size PIL one where its own code shows that is exact; with
    ``blocks`` (a :func:`~robovlms.scaffold.raster.block_processor`, Inkling 2), one block of pixels per token."""
    name, processor = type(default).__name__, _torchvision_processor(default)
    with _deriving(name):
        presets = {"tiny": _tiny(default), "full": _full(default)}
        presets["tiny"] = {**presets["tiny"], **merged_width(default, presets["tiny"])}
        leftover_sizes(default, presets["tiny"])
        tiny = type(default)(**presets["tiny"]).vision_config
    vision = default.vision_config
    sides = {"tiny": TINY_IMAGE["image_size"], "full": native_side(vision)}
    try:
        if blocks:
            stand_in, args = block_stand_in(default.model_type, processor, tiny, sides["tiny"])
            block_stand_in(default.model_type, processor, tiny, RESIZED)
            block_stand_in(default.model_type, processor, vision, sides["full"])
        else:
            stand_in, args = raster_stand_in(default.model_type, processor, tiny, [sides["tiny"], RESIZED])
            raster_stand_in(default.model_type, processor, vision, [sides["full"]])
    except ValueError as exc:
        raise NotThePattern(f"{exc}; write preset_image_processor and patchify for its rule") from None
    return HFClass(cls.__name__, name, stand_in, args, presets, grid=True, raster=True, blocks=blocks, sides=sides)


def _patch_grid_class(cls: type[Any], default: Any) -> HFClass:
    """The facts of a class that :mod:`robovlms.scaffold.patch_grid` covers (NemotronH Omni): frames of one
    square side in the class's patch budget, its torchvision-only processor carried by a fixed-size PIL one."""
    from robovlms.model.raster_grid import frame_merge

    name, processor = type(default).__name__, _torchvision_processor(default)
    with _deriving(name):
        presets = {"tiny": _tiny(default), "full": _full(default)}
        tiny_patches(presets["tiny"]["vision_config"], default.vision_config, TINY_IMAGE["image_size"])
        tiny = type(default)(**presets["tiny"])
    merge, vision = frame_merge(default), default.vision_config
    try:
        sides = {
            "tiny": TINY_IMAGE["image_size"],
            "full": full_side(patch_grid_rules(default.model_type, processor), vision.patch_size, merge),
        }
        stand_in, args = patch_grid_stand_in(
            default.model_type, processor, tiny.vision_config, merge, [sides["tiny"], RESIZED]
        )
        patch_grid_stand_in(default.model_type, processor, vision, merge, [sides["full"]])
    except ValueError as exc:
        raise NotThePattern(f"{exc}; write preset_image_processor and image_inputs for its rule") from None
    return HFClass(cls.__name__, name, stand_in, args, presets, grid=True, raster=True, patch_grid=True, sides=sides)


def _torchvision_processor(default: Any) -> str:
    """The torchvision image processor transformers maps to ``default``'s model type; NotThePattern where none."""
    from transformers.models.auto.image_processing_auto import IMAGE_PROCESSOR_MAPPING_NAMES as IMAGES

    processor = (IMAGES.get(default.model_type) or {}).get("torchvision")
    if not processor:
        raise NotThePattern(f"transformers maps no image processor to model type {default.model_type!r}")
    return str(processor)


def _navit_class(cls: type[Any], default: Any) -> HFClass:
    """The facts of a class fed NaViT-packed patches with ``target_sizes`` (MiniCPM-V 4.6): frames of one square
    side, its PIL processor's pixels carried by a fixed-size one where running it shows that is exact."""
    name = type(default).__name__
    canvas = callable(getattr(_inner_class(cls), "get_rope_index", None))
    if canvas and not canvas_markers(default):
        raise NotThePattern(canvas_reason(cls.__name__))
    with _deriving(name):
        presets = {"tiny": _tiny(default), "full": _full(default)}
        tiny_navit(presets["tiny"], canvas)
        tiny = type(default)(**presets["tiny"])
    # the full side: the processor's scale_resolution, else the config's base resolution
    full = navit_side(default.model_type) or getattr(default, "image_size", None) or default.vision_config.image_size
    sides = {"tiny": TINY_IMAGE["image_size"], "full": int(full)}
    try:
        stand_in, args = navit_stand_in(default.model_type, tiny, [sides["tiny"], RESIZED])
        navit_stand_in(default.model_type, default, [sides["full"]])
    except ValueError as exc:
        raise NotThePattern(f"{exc}; write preset_image_processor and patchify for its rule") from None
    return HFClass(
        cls.__name__, name, stand_in, args, presets, grid=True, raster=True, navit=True, canvas=canvas, sides=sides
    )


def _inner_class(cls: type[Any]) -> type | None:
    """``QwenVLModel`` beside ``QwenVLForConditionalGeneration``: the class of ``model.model``."""
    return getattr(sys.modules[cls.__module__], f"{cls.__name__.split('For')[0]}Model", None)


def _no_vision(cls: type[Any], name: str, default: Any, subs: set[str]) -> str:
    if "vq_config" in subs or hasattr(default, "vq_config"):
        return (
            f"{name} has a vq_config and no vision_config: images become discrete VQ codes, which the word "
            "embedding embeds, not encoder features; write preset_config (the VQ model's resolution and the map of "
            "its codes into the text vocabulary) and a prompt with one placeholder per code"
        )
    if not subs or subs == {"text_config"}:
        forward = inspect.signature(cls.forward).parameters
        if not any(word in p for p in forward for word in ("pixel", "image", "patch")):
            return (
                f"{cls.__name__} takes no image input at all (its forward has no pixel, image or patch argument) "
                f"and {name} no vision_config: it is a language model; wrap the VLM class that feeds it images"
            )
        return (
            f"{name} has no vision_config: the image reaches the language model without a vision encoder of its "
            "own (e.g. patches projected linearly); write vision_tower and model_encode_images"
        )
    return f"{name} has no vision_config (its sub-configs: {', '.join(sorted(subs))}); write the towers by hand"


def _no_placeholder(cls: type[Any], default: Any) -> str:
    name = type(default).__name__
    forward = inspect.signature(cls.forward).parameters
    if "qformer_input_ids" in forward:
        return _reads_instruction(cls)
    if hasattr(default, "num_query_tokens"):
        return (
            f"{name} has no image_token_id: {cls.__name__} puts {default.num_query_tokens} Q-Former query tokens "
            "in front of the text instead of placeholders; write prompt and embed_prompt for that prefix"
        )
    return f"{name} has no image_token_id: robovlms cannot tell where image tokens go in the prompt"


def _unsized(name: str, vision: Any, sizes: dict[str, Any]) -> str:
    """Why a vision config without ``image_size`` and ``patch_size`` cannot be given a resolution."""
    kind = type(vision).__name__
    values = vision.to_dict()
    if "codebook_size" in values or "num_embeddings" in values:
        return (
            f"{name}.vision_config ({kind}) is a VQ image tokenizer (codebook_size {values.get('codebook_size')}): "
            "images become discrete codes in the text vocabulary, not encoder features at placeholders; write "
            "model_encode_images, prompt and preset_config for those codes"
        )
    nested = sorted(key for key, value in values.items() if isinstance(value, dict) and "model_type" in value)
    if nested:
        return (
            f"{name}.vision_config ({kind}) chains encoders of their own ({', '.join(nested)}), each with its own "
            "resolution, and no image_size or patch_size of its own: write preset_config (the chained encoders "
            "at one resolution), preset_image_processor and model_encode_images by hand"
        )
    found = ", ".join(sorted(sizes)) or "no size at all"
    return (
        f"{name}.vision_config ({kind}) has no image_size and patch_size (it has {found}): "
        "robovlms cannot set the preset's resolution; write preset_config by hand"
    )


def _gated_class(cls: type[Any], default: Any) -> HFClass:
    """Idefics's facts (robovlms.scaffold.gated): a :class:`CrossAttentionBackbone` adapter, presets from the
    language model's sizes at the config's top level beside its parts, the gates open at random."""
    presets = _top_level_presets(default, TINY_GATES, {})
    presets["tiny"]["perceiver_config"] = _tiny_part(default.perceiver_config)
    presets["full"]["perceiver_config"] = _sizes(default.perceiver_config)
    processor, args = _processor(default.model_type)
    name = type(default).__name__
    return HFClass(cls.__name__, name, processor, args, presets, gated=True)


def _top_level_presets(default: Any, tiny: dict[str, Any], full: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The presets of a config that keeps its language model's sizes and special ids at its top level beside a
    ``vision_config`` (Idefics, GIT), shrunk and spelled out as :func:`_tiny` and :func:`_full` do a
    ``text_config``'s; ``tiny`` and ``full`` are the class's own entries, between the ids and the vision config."""
    vision = default.vision_config
    return {
        "tiny": {
            **_shrunk(_sizes(default), {**TINY_SIZES, "vocab_size": TINY_VOCAB}),
            **TINY_ROLES,
            **tiny,
            "vision_config": _shrunk(_sizes(vision), {**TINY_SIZES, **TINY_IMAGE}),
        },
        "full": {
            **_sizes(default),
            **{key: getattr(default, key) for key in ROLE_KEYS},
            **full,
            "vision_config": _sizes(vision),
        },
    }


def _tiny_high_res(tiny: dict[str, Any]) -> dict[str, Any]:
    """DeepSeek-VL-Hybrid's SAM encoder at twice the tiny resolution, its global attention in its last layer (the
    one whose states its neck reads), since its aligner resamples its features to the low-resolution grid."""
    high = tiny["high_res_vision_config"]
    return {"image_size": 2 * TINY_IMAGE["image_size"], "global_attn_indexes": [high["num_hidden_layers"] - 1]}


def _instructed_clips(cls: type[Any]) -> bool:
    """Whether ``cls`` is InstructBLIP-Video's kind: clips through an instructed Q-Former, at ``video_token_id``."""
    aliases = getattr(cls.config_class, "attribute_map", None) or {}
    forward = inspect.signature(cls.forward).parameters
    return "video_token_id" in aliases and "qformer_input_ids" in forward and hasattr(cls, "get_video_features")


def _reads_instruction(cls: type[Any]) -> str:
    return (
        f"{cls.__name__}'s Q-Former reads the instruction too (qformer_input_ids, from a tokenizer of its own): "
        "its image tokens depend on the prompt, while model_encode_images sees the pixels only; write embed_prompt "
        "to encode the images with the instruction's Q-Former ids, and reference_inputs to pass them"
    )


def _image_inputs(cls: type[Any]) -> dict[str, str]:
    # the adapter calls model.model.get_image_features; the outer class's may pass (**kwargs) what it requires
    inner = _inner_class(cls)
    found = [getattr(c, "get_image_features", None) for c in (cls, inner) if c is not None]
    if not any(callable(f) for f in found):
        raise NotThePattern(
            _images_in_encoder(cls)
            or f"{cls.__name__} has no get_image_features: write model_encode_images (pixels to image tokens)"
        )
    parameters = [p for f in found if callable(f) for p in list(inspect.signature(f).parameters.values())[1:]]
    required = [
        p.name
        for p in parameters
        if p.name != "pixel_values" and p.default is p.empty and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
    ]
    dynamic = list(dict.fromkeys(p.name for p in parameters if p.name in DYNAMIC_INPUTS))
    if dynamic:
        raise NotThePattern(_dynamic_reason(cls, dynamic, {p.name for p in parameters}))
    if "flattened_patches" in required:
        raise NotThePattern(
            f"{cls.__name__} takes flattened_patches instead of pixel_values (Pix2Struct's patches at each image's "
            "own resolution, each with its row and column number): write model_encode_images and reference_inputs "
            "that flatten the frames as its processor does, and a prompt with as many placeholders as patches"
        )
    # InstructBLIP's instruction for its Q-Former: robovlms.model.qformer.InstructedQFormerBackbone passes it
    unknown = [name for name in required if name not in IMAGE_INPUTS and name != "qformer_input_ids"]
    if unknown:
        raise NotThePattern(
            f"get_image_features also needs {', '.join(unknown)}, which robovlms cannot derive from the pixels; "
            "write model_encode_images and reference_inputs"
        )
    return {name: IMAGE_INPUTS[name] for name in dict.fromkeys(required) if name in IMAGE_INPUTS}


def _images_in_encoder(cls: type[Any]) -> str:
    """Why a class whose forward takes no pixels, only image features its encoder made beforehand (DiffusionGemma's
    ``mm_encoder_outputs``), is not the pattern; empty for any other."""
    forward = inspect.signature(cls.forward).parameters
    module = vars(sys.modules[cls.__module__])
    encoders = [
        name
        for name, part in module.items()
        if name.endswith("EncoderModel") and callable(getattr(part, "get_image_features", None))
    ]
    if any("pixel" in name for name in forward) or not encoders:
        return ""
    takes = inspect.signature(module[encoders[0]].get_image_features).parameters
    positioned = (
        " as a sequence of patches with their (x, y) positions (image_position_ids, as Gemma 4's encoder does), "
        "whose number follows each image's aspect ratio"
        if "image_position_ids" in takes
        else ""
    )
    decoders = [name for name in module if name.endswith("DecoderModel")]
    decoder = (
        f", and what it returns is its decoder's ({decoders[0]}: a canvas of tokens refined by attending the "
        "encoder's cache), not states over the prompt"
        if decoders
        else ""
    )
    passed = "mm_encoder_outputs" if "mm_encoder_outputs" in forward else "image features"
    return (
        f"{cls.__name__}'s forward takes no pixels, only {passed} made beforehand by {encoders[0]}.get_image_features "
        f"(model.model.encoder), which takes each image{positioned}{decoder}: write text_tower and vision_tower "
        "under model.model.encoder, preset_config with a square resolution, model_encode_images and reference_inputs "
        "that patch a square frame with its positions, and reference_forward as the encoder's own forward over the "
        "prompt (its last_hidden_state)"
    )


def _processor(model_type: str) -> tuple[str, str]:
    """The PIL image processor and its ``size`` argument at the preset's resolution."""
    import transformers

    stand_in = torchvision_stand_in(model_type)
    if stand_in is not None:
        return stand_in
    name = _processor_name(model_type)
    try:
        size = dict(getattr(transformers, name)().size or {})
    except Exception as exc:
        raise NotThePattern(f"{name}() fails: {first_line(exc, with_type=True)}") from None
    if "shortest_edge" in size and "longest_edge" not in size:
        return name, 'size={"shortest_edge": size}, crop_size={"height": size, "width": size}'
    if "height" in size or "longest_edge" in size:
        # a longest edge is the side of a square frame as well; robovlms feeds square frames
        return name, 'size={"height": size, "width": size}'
    padded = padded_args(name)
    if padded:  # robovlms.scaffold.padded: the longer side, the rest padded (Aria)
        return name, padded
    raise NotThePattern(
        f"{name} resizes to a pixel budget, not a size (size={size}): the number of image tokens follows each "
        "image (an image processor that follows the checkpoint's resizing rules: plugin API 1.2)"
    )


def _processor_name(model_type: str) -> str:
    """The PIL image processor transformers maps to ``model_type``."""
    from transformers.models.auto.image_processing_auto import IMAGE_PROCESSOR_MAPPING_NAMES

    names = IMAGE_PROCESSOR_MAPPING_NAMES.get(model_type) or {}
    # a variant's model type (``qwen3_vl_moe``, ``qwen2_5_omni_thinker``) shares its family's processor
    family = model_type
    while not names and "_" in family:
        family = family.rsplit("_", 1)[0]
        names = IMAGE_PROCESSOR_MAPPING_NAMES.get(family) or {}
    if not isinstance(names, dict) or not names:
        found = sibling(model_type)
        if found is None:
            raise NotThePattern(f"transformers maps no image processor to model type {model_type!r} or its family's")
        names = found[1]
    name = names.get("pil")
    if not name:
        others = ", ".join(str(n) for n in names.values() if n)
        raise NotThePattern(
            f"{model_type!r}'s image processor ({others}) needs torchvision and has no PIL variant, and robovlms "
            "carries no fixed size, mean, std and resampling of it into a PIL processor here"
            f"{grid_departures(model_type)}; write preset_image_processor"
        )
    return str(name)


def _architecture(sub: Any) -> dict[str, Any]:
    """Where the VLM's default sub-config departs from its class's own defaults (e.g. no pooling head)."""
    own = type(sub)().to_dict()
    return {
        key: value
        for key, value in sub.to_dict().items()
        if key not in _BOOKKEEPING and key not in SIZE_KEYS and (key not in own or own[key] != value)
    }


def _settings(sub: Any) -> dict[str, Any]:
    """All of a sub-config's values as the VLM sets them, for a part that no size key describes fully."""
    return {key: value for key, value in sub.to_dict().items() if key == "model_type" or key not in _BOOKKEEPING}


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
    # a model without grouped-query attention (some configs insist on it) keeps as many key-value heads as heads
    if "num_key_value_heads" in out and sizes["num_key_value_heads"] == sizes.get("num_attention_heads"):
        out["num_key_value_heads"] = out["num_attention_heads"]
    return out


def _layers_needed(default: Any) -> int:
    """Vision layers the VLM reads features from (``vision_feature_layer(s)``): a tiny encoder keeps them."""
    needed = 2
    for key in ("vision_feature_layer", "vision_feature_layers"):
        value = getattr(default, key, None)
        for index in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(index, int):
                needed = max(needed, -index if index < 0 else index + 1)
    return needed


def _tiny(default: Any, mrope: bool = False) -> dict[str, Any]:
    vision, text = default.vision_config, default.text_config
    layers = _layers_needed(default)
    # sizes of the parts between the towers (projectors), kept at the top level of the config
    top = {
        key: TINY_SIZES.get(key, TINY_SIZES["intermediate_size"])
        for key, value in default.to_dict().items()
        if (key in TINY_SIZES or key.endswith(TINY_INNER)) and isinstance(value, int)
    }
    top = {**by_ending(default.to_dict()), **top}
    # a vision vocabulary (Ovis's visual tokens) shrinks as the text one does
    vision_sizes = _shrunk(_sizes(vision), {**TINY_SIZES, **TINY_IMAGE, "vocab_size": TINY_VOCAB})
    for key in LAYER_KEYS:
        if key in vision_sizes:
            vision_sizes[key] = layers
    # layers whose features enter the language model's early layers too (Qwen3-VL's DeepStack) stay in the
    # tiny encoder, so that the check compares them rather than a model without them
    if getattr(vision, "deepstack_visual_indexes", None):
        vision_sizes["deepstack_visual_indexes"] = [layers - 1]
    # the parts between the towers that have configs of their own (a perceiver, a Q-Former) shrink too
    others = {
        key: _tiny_part(part)
        for key in getattr(type(default), "sub_configs", {}) or {}
        if key not in ("vision_config", "text_config") and hasattr(part := getattr(default, key, None), "to_dict")
    }
    text_settings = {
        **_architecture(text),
        **by_ending(text.to_dict()),
        **_shrunk(_sizes(text), {**TINY_SIZES, "vocab_size": TINY_VOCAB}),
        **layer_kinds(text, TINY_SIZES["num_hidden_layers"]),
        **open_head_dim(text, tiny=True),
        **head_grouping(text, TINY_SIZES["num_attention_heads"]),
        **open_window(text),
    }

    def shrink(entry: dict[str, Any]) -> dict[str, Any]:
        return {**entry, **by_ending(entry), **_shrunk(entry, TINY_SIZES)}

    text_settings.update(
        per_layer(text, text_settings.get("num_hidden_layers", TINY_SIZES["num_hidden_layers"]), shrink)
    )
    text_settings.update(checkpoint_settings(text, text_settings))
    vision_sizes.update(per_layer(vision, layers, shrink))
    return {
        **others,
        "vision_config": {
            "model_type": vision.model_type,
            **_architecture(vision),
            **by_ending(vision.to_dict()),
            **vision_sizes,
            **shuffled_widths(vision, vision_sizes.get("hidden_size", TINY_SIZES["hidden_size"])),
            **(staged_sizes(vision, TINY_IMAGE["image_size"]) if staged(vision) else {}),
        },
        "text_config": {
            "model_type": text.model_type,
            **text_settings,
            **rope_for_each_kind(_tiny_rope(text, mrope), text_settings),
            **TINY_ROLES,
        },
        **top,
        "image_token_id": TINY_IMAGE_TOKEN,
    }


def _tiny_part(part: Any) -> dict[str, Any]:
    """A part between the towers, every value as the VLM sets it but its sizes, tiny; a value the part's
    config derives from its sizes (dots3's audio ``conv_output_size``) is derived from the tiny ones."""
    # a vocabulary of its own (InstructBLIP's Q-Former reads the instruction) shrinks as the text one does
    tiny = {
        **by_ending(_settings(part)),
        **_shrunk(_sizes(part), {**TINY_SIZES, "vocab_size": TINY_VOCAB}),
        **pyramid(part),
    }
    try:
        derived = type(part)(**tiny).to_dict()
    except Exception:  # a part whose sizes alone do not build: its values as set
        derived = {}
    own = type(part)().to_dict()
    settings = {
        key: derived[key] if key in derived and key in own and own[key] == value else value
        for key, value in _settings(part).items()
    }
    return {**settings, **tiny}


def _tiny_rope(text: Any, mrope: bool) -> dict[str, Any]:
    """M-RoPE's sections (rotary frequencies for time, rows and columns) cover half the rotary width, which
    shrinks with the head; many configs leave them to a default in the modeling code, sized for the full head."""
    rope = getattr(text, "rope_parameters", None)
    if not isinstance(rope, dict) or not (mrope or rope.get("mrope_section")):
        return {}
    partial = rope.get("partial_rotary_factor", getattr(text, "partial_rotary_factor", None)) or 1.0
    half = int(TINY_SIZES["head_dim"] * partial) // 2
    # about Qwen2-VL's proportions ([16, 24, 24] of 64), with the first two sections equal: ERNIE's
    # order is (rows, columns, time) and pairs the first two
    spatial = half * 3 // 8
    return {"rope_parameters": {**rope, "mrope_section": [spatial, spatial, half - 2 * spatial]}}


def _full(default: Any) -> dict[str, Any]:
    """transformers' defaults spelled out; special ids the text config leaves open get free ids at the top."""
    vision, text = default.vision_config, default.text_config
    vocab = text.vocab_size
    image = getattr(default, "image_token_id", None)
    taken = {image} - {None}
    roles: dict[str, int] = {}
    for key in ROLE_KEYS:
        value = getattr(text, key, None)
        value = value[0] if isinstance(value, (list, tuple)) and value else value
        if isinstance(value, int):
            roles[key] = value
            taken.add(value)
    free = (i for i in range(vocab - 1, -1, -1) if i not in taken)
    roles = {key: roles[key] if key in roles else next(free) for key in ROLE_KEYS}
    image_token = image if image is not None else next(free)
    return {
        "vision_config": {
            "model_type": vision.model_type,
            **_architecture(vision),
            **_sizes(vision),
            **dividing_heads(vision),
        },
        "text_config": {
            "model_type": text.model_type,
            **_architecture(text),
            **_sizes(text),
            **open_head_dim(text, tiny=False),
            **checkpoint_settings(text, {}),
            **roles,
        },
        "image_token_id": image_token,
    }


#: BLIP-2's parts, at the model's top level
QFORMER_LAYOUT = ("vision_model", "qformer", "language_model")


def qformer_layout(model: Any) -> bool:
    """Whether ``model`` keeps BLIP-2's parts at its top level, with no ``model.model``."""
    return not hasattr(model, "model") and all(hasattr(model, part) for part in QFORMER_LAYOUT)


#: Llama 4's parts, at the model's top level
TOP_LEVEL_LAYOUT = ("vision_model", "multi_modal_projector", "language_model")


def top_level_layout(model: Any) -> bool:
    """Whether ``model`` keeps Llama 4's parts at its top level, with no ``model.model``."""
    return not hasattr(model, "model") and all(hasattr(model, part) for part in TOP_LEVEL_LAYOUT)


def towers(model: Any) -> tuple[str, str]:
    """The names of the text and vision towers under ``model.model``, or why there are none to name."""
    import torch

    inner = getattr(model, "model", None)
    if not isinstance(inner, torch.nn.Module):
        raise NotThePattern(f"{type(model).__name__} keeps no model.model: write text_tower and vision_tower")
    embeddings = model.get_input_embeddings()
    text = next(
        (
            name
            for name in TEXT_TOWERS
            if isinstance(getattr(inner, name, None), torch.nn.Module)
            and any(m is embeddings for m in getattr(inner, name).modules())
        ),
        None,
    )
    vision = next((n for n in VISION_TOWERS if isinstance(getattr(inner, n, None), torch.nn.Module)), None)
    if text is None or vision is None:
        children = ", ".join(name for name, _ in inner.named_children())
        wanted = (("a language model", text), ("a vision encoder", vision))
        missing = " and ".join(what for what, found in wanted if not found)
        raise NotThePattern(
            f"{type(model).__name__}.model holds {children}: robovlms finds no {missing} there under "
            f"transformers' usual names; write text_tower and vision_tower"
        )
    return text, vision
