"""The core's CrossAttentionBackbone (Idefics's gated cross-attention under its own image mask) and
TiledCrossAttentionBackbone (Mllama's, under a mask per image and tile)."""

from __future__ import annotations

import pytest
import torch
from tiny import tiny_backbone
from transformers import (
    IdeficsConfig,
    IdeficsForVisionText2Text,
    IdeficsImageProcessorPil,
    MllamaConfig,
    MllamaForConditionalGeneration,
    MllamaImageProcessorPil,
)

from robovlms.model.cross_attention import CrossAttentionBackbone, TiledCrossAttentionBackbone
from robovlms.model.tokenization import local_tokenizer
from robovlms.scaffold.hf import facts
from robovlms.testing.backbone_suite import assert_matches_own_forward


class Idefics(CrossAttentionBackbone):
    name = "idefics"
    model_class = IdeficsForVisionText2Text


def test_without_a_resampler_the_encoders_states_match_idefics_own_forward() -> None:
    """Idefics's own defaults keep the perceiver off: cross-attention reads the vision encoder's states, and
    robovlms's forward (its image_attention_mask as Idefics's) equals Idefics's own with a left-padded row."""
    found = facts(IdeficsForVisionText2Text)
    assert found.gated and found.reason is None and found.presets is not None
    config = IdeficsConfig(**found.presets["tiny"])
    assert not config.use_resampler
    tokenizer = local_tokenizer(config.vocab_size, {"<pad>": 0, "<bos>": 2, "<image>": config.vocab_size})
    processor = IdeficsImageProcessorPil(size={"height": 32, "width": 32})
    idefics = tiny_backbone(Idefics, config, processor, tokenizer=tokenizer)
    pixels = torch.randn(2, 3, 32, 32)
    ids = torch.tensor([[2, 70, 71, 72, 73], [0, 0, 2, 74, 75]])
    mask = (ids != 0).long()
    with torch.no_grad():
        tokens = idefics.encode_images(pixels)
    assert tokens.shape == (2, (32 // 8) ** 2 + 1, config.vision_config.embed_dim)  # patches and the class token
    ours = assert_matches_own_forward(idefics, pixels, ids, mask, atol=1e-5)
    with torch.no_grad():
        other = idefics(pixels.flip(-1), ids, mask)
    valid = mask.bool()
    assert ((ours - other).abs().amax(-1)[valid] > 1e-6).all()  # the images reach every position


class Mllama(TiledCrossAttentionBackbone):
    name = "mllama"
    model_class = MllamaForConditionalGeneration


def test_a_frame_as_one_tile_matches_mllamas_own_forward() -> None:
    """Mllama's mask per image and tile from robovlms's image_attention_mask: a left-padded row included, its
    own forward (the frame as one tile, the other slots masked) gives the same states; a preset opens the gates."""
    found = facts(MllamaForConditionalGeneration)
    assert found.cross_tiles and found.reason is None and found.presets is not None
    processor = MllamaImageProcessorPil(size={"height": 32, "width": 32})
    mllama = tiny_backbone(Mllama, MllamaConfig(**found.presets["tiny"]), processor)
    gates = [p for n, p in mllama.model.named_parameters() if n.endswith("cross_attn_attn_gate")]
    assert gates and all(g.item() == pytest.approx(Mllama.PRESET_GATE) for g in gates)
    pixels = torch.randn(2, 3, 32, 32)
    ids = torch.tensor([[2, 70, 71, 72, 73], [0, 0, 2, 74, 75]])
    mask = (ids != 0).long()
    ours = assert_matches_own_forward(mllama, pixels, ids, mask, atol=1e-5)
    with torch.no_grad():
        other = mllama(pixels.flip(-1), ids, mask)
    valid = mask.bool()
    assert ((ours - other).abs().amax(-1)[valid] > 1e-6).all()
