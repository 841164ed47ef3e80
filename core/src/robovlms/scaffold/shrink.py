"""Sizes of a tiny preset that no name in :data:`robovlms.scaffold.hf.TINY_SIZES` covers.

Parts beyond a transformer's usual sizes (mixtures of experts, linear attention, a convolutional neck or
VQ codebook, projectors sized on the top-level config) name their sizes in many ways, but by a few
endings: ``moe_intermediate_size``, ``linear_value_head_dim``, ``projector_hidden_size``, ``base_channels``.
Matching the endings shrinks them in every class that uses one, instead of a list of names per class.
A size is only ever lowered: a count already below the tiny one (one expert per token, three colour
channels) is what the architecture needs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: the width of a tiny model's parts
TINY_WIDTH = 64
#: a key's tiny value, by how its name ends; the first ending that matches wins
TINY_BY_ENDING = (
    ("experts_per_tok", 2),
    # the same count under ERNIE 4.5's name (its top-k must not exceed the tiny experts)
    ("moe_k", 2),
    # experts of a mixture, under each name transformers gives their count
    ("num_experts", 4),
    ("num_local_experts", 4),
    ("n_routed_experts", 4),
    # linear attention's heads (a value head per key head or more: value heads are a multiple of key heads)
    ("num_key_heads", 2),
    ("num_value_heads", 4),
    ("head_dim", 16),
    ("intermediate_size", 128),
    ("hidden_size", 64),
    ("embed_dim", 64),
    # an adapter's input and output widths: the widths of the towers it joins (dots3's vision adapter)
    ("adapter_in_dim", 64),
    ("adapter_input_size", 64),
    ("adapter_out_dim", 64),
    # a convolutional neck or VQ encoder: GroupNorm's 32 groups need a multiple of 32
    ("_channels", 32),
    # a VQ codebook's entries
    ("num_embeddings", 64),
    # learned positions a vision encoder interpolates to the image's grid (Qwen3-VL's kin): a square, 8 x 8
    ("num_position_embeddings", 64),
    # the largest side a vision encoder keeps learned positions for, which it interpolates to the image's grid
    # (HunYuan-VL, HY-V4-VL): 64 pixels, 8 x 8 positions of 8-pixel patches
    ("max_image_size", 64),
    # low-rank factors (hyper-connections' mixing, compressed attention)
    ("lowrank", 32),
    ("_rank", 32),
)
#: the per-layer kinds a heterogeneous model's config lists (attention, and dense or sparse MLP)
KIND_KEYS = ("layer_types", "mlp_layer_types")
#: the spread of random weights below which a tiny model's features vanish (GotOcr2's vision encoder sets
#: 1e-10, for weights that are always loaded); such a part gets transformers' usual spread instead
SIGNAL_INITIALIZER_RANGE = (1e-3, 0.02)
#: per-level channel multipliers of a convolutional encoder: two levels of the base width keep its up- and
#: downsampling
LEVELS = ("channel_multiplier", "ch_mult")


def by_ending(values: Mapping[str, Any], skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """The entries of ``values`` (a config's top level, not its sub-configs) that a tiny preset lowers."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if key in skip:
            continue
        if key == "initializer_range" and isinstance(value, float) and value < SIGNAL_INITIALIZER_RANGE[0]:
            out[key] = SIGNAL_INITIALIZER_RANGE[1]
            continue
        if key in LEVELS and isinstance(value, (list, tuple)) and len(value) > 2:
            out[key] = [1, 1]
            continue
        tiny = next((size for ending, size in TINY_BY_ENDING if key.endswith(ending)), None)
        if tiny is None:
            continue
        if _count(value) and value > tiny:
            out[key] = tiny
        elif isinstance(value, list) and value and all(map(_count, value)):  # one size per kind (ERNIE 4.5's experts)
            out[key] = [min(item, tiny) for item in value]
    return out


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def layer_kinds(text: Any, layers: int) -> dict[str, Any]:
    """One layer of each kind a hybrid language model mixes (linear and full attention, sliding windows), in
    the order the checkpoint first uses them, and at least ``layers`` layers.

    Its config fills ``layer_types`` for the tiny layer count from the checkpoint's pattern (full attention
    every fourth layer), which in two layers leaves only the first kind: a model of linear attention alone
    forgets the image within a few tokens, and the tiny model would test a different architecture.
    """
    kinds = list(dict.fromkeys(getattr(text, "layer_types", None) or []))
    if len(kinds) < 2 or not all(isinstance(kind, str) for kind in kinds):
        return {}
    types = [kinds[0]] * max(0, layers - len(kinds)) + kinds
    return {"layer_types": types, "num_hidden_layers": len(types)}


def open_head_dim(sub: Any, tiny: bool) -> dict[str, Any]:
    """``head_dim`` where a config leaves it None yet its attention reads it as a number (HunYuan-VL): the
    width over the heads, which is what the other configs default it to (16 in a tiny preset)."""
    values = sub.to_dict()  # a heterogeneous config (Gemma 4's per_layer_config) refuses head_dim by attribute
    if "head_dim" not in values or values["head_dim"] is not None:
        return {}
    return {"head_dim": 16 if tiny else sub.hidden_size // sub.num_attention_heads}


def dividing_heads(sub: Any) -> dict[str, Any]:
    """For a full preset: the head count nearest to the default one that divides the width, where transformers'
    defaults pair a width with a head count that does not divide it (Aya Vision's SigLIP: 1152 wide, 14 heads),
    so no model of those defaults can be built. Of two as near, the larger count (SigLIP-so400m's 16 heads)."""
    width, heads = getattr(sub, "hidden_size", None), getattr(sub, "num_attention_heads", None)
    if not (isinstance(width, int) and isinstance(heads, int) and heads > 0) or width % heads == 0:
        return {}
    if getattr(sub, "head_dim", None):  # an explicit head width: heads need not divide the model's width
        return {}
    return {"num_attention_heads": min(range(1, width + 1), key=lambda n: (width % n != 0, abs(n - heads), -n))}


def head_grouping(sub: Any, heads: int) -> dict[str, Any]:
    """As many key/value heads as query heads where the checkpoint has as many (no grouped-query attention):
    multi-head latent attention (Mistral Large 4, DeepSeek-V3) expands keys and values to every head, so a
    tiny preset with fewer would not build them."""
    values = sub.to_dict()  # a heterogeneous config (per_layer_config) refuses to give one value by attribute
    kv = values.get("num_key_value_heads")
    return {"num_key_value_heads": heads} if kv is not None and kv == values.get("num_attention_heads") else {}


def per_layer(sub: Any, layers: int, shrink: Any) -> dict[str, Any]:
    """A heterogeneous model's ``per_layer_config`` (dots3: sliding layers with heads and ranks of their own,
    sparse vision layers with more experts each) for a tiny one of at least ``layers`` layers: one layer of each
    kind (``layer_types``, ``mlp_layer_types``), each with the overrides of the checkpoint's first layer of that
    kind, shrunk (``shrink``). The checkpoint's entries name layers a tiny model does not have."""
    values = sub.to_dict()
    overrides, count = values.get("per_layer_config"), values.get("num_hidden_layers")
    if not isinstance(overrides, dict) or not overrides or not isinstance(count, int):
        return {}
    kinds = {key: values[key] for key in KIND_KEYS if isinstance(values.get(key), list) and len(values[key]) == count}
    firsts = sorted({tuple(kinds[key][i] for key in kinds): i for i in reversed(range(count))}.values())
    chosen = [0] * max(0, layers - len(firsts)) + firsts
    width = len(next(iter(overrides)))
    table = {}
    for index, full in enumerate(chosen):
        entry = overrides.get(f"{full:0{width}d}")
        if entry:
            table[f"{index:0{width}d}"] = {
                **shrink(entry),
                **_split_head(values, entry, {**shrink(values), **shrink(entry)}),
            }
    out: dict[str, Any] = {key: [kinds[key][i] for i in chosen] for key in kinds}
    return {**out, "num_hidden_layers": len(chosen), "per_layer_config": table}


def _split_head(values: Mapping[str, Any], entry: Mapping[str, Any], tiny: Mapping[str, Any]) -> dict[str, Any]:
    """A layer whose head is its latent part and its rotary part (dots3's sliding layers: 192 + 64 = 256) keeps
    that sum in the tiny preset."""
    parts = ("qk_nope_head_dim", "qk_rope_head_dim")
    full = {**values, **entry}
    if not all(isinstance(full.get(key), int) and isinstance(tiny.get(key), int) for key in parts):
        return {}
    return {"head_dim": tiny[parts[0]] + tiny[parts[1]]} if full.get("head_dim") == sum(full[k] for k in parts) else {}


def open_window(sub: Any) -> dict[str, Any]:
    """A tiny ``sliding_window`` where a config leaves it None (Step 3.7): some language models build their
    sliding-window mask whatever their layers are, and fail without one. 16 positions, so that a sliding
    layer, where there is one, slides within a test prompt; full-attention layers never read it."""
    return {"sliding_window": 16} if "sliding_window" in sub.to_dict() and sub.sliding_window is None else {}


def shuffled_widths(vision: Any, hidden: int) -> dict[str, Any]:
    """Llama 4's vision adapter: a pixel shuffle by ``pixel_shuffle_ratio`` hands its MLP ``hidden / ratio**2``
    channels as ``intermediate_size`` (so the checkpoint sizes them: 1408 and 5632), and the MLP's widths
    (``projector_input_dim``, ``projector_output_dim`` = ``vision_output_dim``) meet the text projector's input."""
    ratio = getattr(vision, "pixel_shuffle_ratio", None)
    if not isinstance(ratio, float) or "projector_input_dim" not in vision.to_dict():
        return {}
    return {
        "intermediate_size": round(hidden / ratio**2),
        "projector_input_dim": TINY_WIDTH,
        "projector_output_dim": TINY_WIDTH,
        "vision_output_dim": TINY_WIDTH,
    }


def staged(vision: Any) -> bool:
    """Whether ``vision`` is a staged convolutional encoder (Florence-2's DaViT): widths, heads and patch sizes
    per stage, and no ``image_size``, since the stages take any resolution."""
    return all(isinstance(getattr(vision, key, None), (list, tuple)) for key in ("embed_dim", "depths"))


def staged_sizes(vision: Any, image_size: int) -> dict[str, Any]:
    """A tiny staged encoder: one block per stage, the tiny width and heads in each (as many groups as heads),
    the first stage's kernel as wide as its stride with no padding, so that the preset's patch size is the
    stride its image tokens are counted in, and ``image_size`` for the processor's resolution."""
    stages = len(vision.depths)
    first = vision.patch_stride[0]
    return {
        "depths": [1] * stages,
        "embed_dim": [TINY_WIDTH] * stages,
        "num_heads": [4] * stages,
        "num_groups": [4] * stages,
        "patch_size": [first, *vision.patch_size[1:]],
        "patch_padding": [0, *vision.patch_padding[1:]],
        "projection_dim": TINY_WIDTH,
        "image_size": image_size,
    }


def pyramid(part: Any) -> dict[str, Any]:
    """A part built as a pyramid of stages (Muse Spark's audio encoder: ``patch_sizes``, ``hidden_sizes`` and
    ``depths``, one entry per layer, validated against ``num_hidden_layers``) keeps its stages and their
    strides, each at a tiny width and one block, since the layer count is the lists' length."""
    lists = ("patch_sizes", "hidden_sizes", "depths")
    values = [getattr(part, key, None) for key in lists]
    stages = getattr(part, "num_hidden_layers", None)
    if not isinstance(stages, int) or not all(isinstance(v, (list, tuple)) and len(v) == stages for v in values):
        return {}
    return {"num_hidden_layers": stages, "hidden_sizes": [16] * stages, "depths": [1] * stages}
