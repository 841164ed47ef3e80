"""Presets at random weights see their images, whatever an architecture's own init leaves at zero."""

from __future__ import annotations

import torch
from transformers import Gemma3Config, Gemma3ForConditionalGeneration

from robovlms.model.weights import random_model

TINY = Gemma3Config(
    vision_config={
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "image_size": 32,
        "patch_size": 8,
    },
    text_config={
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "num_key_value_heads": 1,
        "head_dim": 16,
        "vocab_size": 300,
    },
    mm_tokens_per_image=4,
    image_token_id=299,
)


def test_a_projection_the_architecture_starts_at_zero_is_drawn() -> None:
    """Gemma 3 zero-initialises its image projection: at random weights its image tokens would all be 0."""
    plain = Gemma3ForConditionalGeneration(TINY)  # transformers' own init: the premise
    assert not plain.model.multi_modal_projector.mm_input_projection_weight.any()
    model = random_model(Gemma3ForConditionalGeneration, TINY)
    projection = model.model.multi_modal_projector.mm_input_projection_weight
    assert projection.abs().max() > 1e-3
    with torch.no_grad():
        tokens = model.model.get_image_features(pixel_values=torch.randn(1, 3, 32, 32)).pooler_output
    assert tokens.abs().max() > 1e-3
    # reproducible, and vectors (norm weights, biases) keep their init
    again = random_model(Gemma3ForConditionalGeneration, TINY)
    torch.testing.assert_close(again.model.multi_modal_projector.mm_input_projection_weight, projection)
    norm = model.model.multi_modal_projector.mm_soft_emb_norm.weight
    assert not norm.any()  # Gemma's RMSNorm keeps (1 + weight), initialised at zero


def test_meta_presets_are_built_without_looking_at_values() -> None:
    with torch.device("meta"):
        model = random_model(Gemma3ForConditionalGeneration, TINY)
    assert all(p.is_meta for p in model.parameters())
