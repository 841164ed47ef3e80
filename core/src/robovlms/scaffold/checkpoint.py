"""Settings a checkpoint's config.json gives that transformers' defaults leave open, for the presets.

Some configs leave to the checkpoint a setting their modeling code reads (Qwen4-Exp's QSA indexer, Cohere
Compass's rotary parameters per kind of layer), so transformers' own defaults build no model. Each entry here
derives such a setting from what the config's docstring and validation require and from the config's other
fields; the derived value always builds the architecture the modeling code describes, never a simpler one.
A setting a checkpoint may choose otherwise (a token budget) shapes no weight, so its checkpoint's value loads
into the same model.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

#: a setting left None, and its value from the config's other values (tiny or full alike)
CHECKPOINT_GIVES: dict[str, Callable[[Mapping[str, Any]], Any]] = {
    # Qwen4-Exp's QSA token indexer (Qwen4ExpTextConfig's docstring and validate_architecture): one key head
    # ("Qwen4-Exp QSA requires one key head"), a query head per attention head, index heads as wide as the
    # attention's (the rotary part of a head must fit one), and a budget that is a multiple of the blocks
    # (validate: "indexer_budget must be divisible by indexer_compress_ratio"): blocks of 4 tokens and a budget
    # of 2 blocks, so that a test prompt of tens of tokens has more blocks than the indexer keeps
    "indexer_kv_heads": lambda values: 1,
    "indexer_n_heads": lambda values: values["num_attention_heads"],
    "indexer_head_dim": lambda values: values["head_dim"],
    "indexer_compress_ratio": lambda values: 4,
    "indexer_budget": lambda values: 8,
    # DeepSeek-OCR 2's MoE language model (DeepseekOcr2TextConfig's docstring): the first layer's MLP dense and
    # the rest sparse, its example ["dense", "sparse", "sparse", ...] and Unlimited OCR's derivation of the same
    # family (first_k_dense_replace 1); greedy routing over one group of experts, six per token as Unlimited
    # OCR's default (at most as many as the preset has); the routing shapes no weight
    "mlp_layer_types": lambda values: ["dense"] + ["sparse"] * (values["num_hidden_layers"] - 1),
    "n_group": lambda values: 1,
    "topk_group": lambda values: 1,
    "num_experts_per_tok": lambda values: min(6, values.get("n_routed_experts", 6)),
}


def checkpoint_settings(sub: Any, preset: Mapping[str, Any]) -> dict[str, Any]:
    """The settings of a sub-config ``sub`` that its defaults leave None and :data:`CHECKPOINT_GIVES` derives from
    its values as the ``preset`` sets them (shrunk, for a tiny one), and rotary parameters per kind of layer where
    it has none."""
    values = {**sub.to_dict(), **preset}
    out = {key: derive(values) for key, derive in CHECKPOINT_GIVES.items() if key in values and values[key] is None}
    return {**out, **rope_per_layer_type(values, getattr(sub, "default_theta", None))}


def rope_per_layer_type(values: Mapping[str, Any], theta: Any) -> dict[str, Any]:
    """Rotary parameters for each kind of layer (``layer_types``) where a config keeps them per kind and its
    defaults give none (Cohere Compass: ``rope_parameters`` is ``{}``, and its rotary embedding reads
    ``rope_parameters[layer_type]``): the default rotation at the config's own ``default_theta`` for each kind.
    A checkpoint may leave some kind without rotation (NoPE); its config.json says so."""
    kinds = values.get("layer_types")
    if values.get("rope_parameters") != {} or not isinstance(kinds, list) or not kinds or theta is None:
        return {}
    return {"rope_parameters": {kind: {"rope_type": "default", "rope_theta": theta} for kind in dict.fromkeys(kinds)}}


def rope_for_each_kind(rope: Mapping[str, Any], settings: Mapping[str, Any]) -> dict[str, Any]:
    """A tiny preset's rotary settings ``rope`` (M-RoPE's sections) inside each kind's parameters, where the
    preset's ``settings`` keep them per kind of layer (:func:`rope_per_layer_type`); else ``rope`` as it is."""
    kinds, tiny = settings.get("rope_parameters"), rope.get("rope_parameters")
    if not (isinstance(kinds, dict) and kinds and all(isinstance(p, dict) for p in kinds.values())) or not tiny:
        return dict(rope)
    return {"rope_parameters": {kind: {**params, **tiny} for kind, params in kinds.items()}}


def with_own_parts(default: Any) -> Any:
    """``default`` (a VLM's config with transformers' defaults) with the towers it leaves None (Gemma 4's
    ``vision_config``) at the defaults of the class its ``sub_configs`` names for them: the tower the modeling
    code builds for that key, whose sizes a tiny preset then shrinks as any other's."""
    own = getattr(type(default), "sub_configs", {}) or {}
    missing = {
        key: own[key]().to_dict()
        for key in ("vision_config", "text_config")
        if getattr(default, key, None) is None and isinstance(own.get(key), type)
    }
    return type(default)(**missing) if missing else default
