"""The core's CrossAttentionBackbone: Idefics's gated cross-attention under its own image mask."""

from __future__ import annotations

import torch
from transformers import IdeficsConfig, IdeficsForVisionText2Text, IdeficsImageProcessorPil

from robovlms.config import VLMConfig
from robovlms.model.cross_attention import CrossAttentionBackbone
from robovlms.model.tokenization import local_tokenizer
from robovlms.scaffold.hf import facts


class Idefics(CrossAttentionBackbone):
    name = "idefics"
    model_class = IdeficsForVisionText2Text


def test_without_a_resampler_the_encoders_states_match_idefics_own_forward() -> None:
    """Idefics's own defaults keep the perceiver off: cross-attention reads the vision encoder's states, and
    robovlms's forward (its image_attention_mask as Idefics's) equals Idefics's own with a left-padded row."""
    found = facts(IdeficsForVisionText2Text)
    assert found.gated and found.reason is None and found.presets is not None
    torch.manual_seed(0)
    config = IdeficsConfig(**found.presets["tiny"])
    assert not config.use_resampler
    tokenizer = local_tokenizer(config.vocab_size, {"<pad>": 0, "<bos>": 2, "<image>": config.vocab_size})
    processor = IdeficsImageProcessorPil(size={"height": 32, "width": 32})
    idefics = Idefics(IdeficsForVisionText2Text(config).eval(), tokenizer, processor, VLMConfig(preset="tiny"))
    pixels = torch.randn(2, 3, 32, 32)
    ids = torch.tensor([[2, 70, 71, 72, 73], [0, 0, 2, 74, 75]])
    mask = (ids != 0).long()
    with torch.no_grad():
        tokens = idefics.encode_images(pixels)
        ours = idefics(pixels, ids, mask)
        own = idefics.reference_forward(pixels, ids, mask)
        other = idefics(pixels.flip(-1), ids, mask)
    assert tokens.shape == (2, (32 // 8) ** 2 + 1, config.vision_config.embed_dim)  # patches and the class token
    valid = mask.bool()
    torch.testing.assert_close(ours[valid], own[valid], atol=1e-5, rtol=0)
    assert ((ours - other).abs().amax(-1)[valid] > 1e-6).all()  # the images reach every position
