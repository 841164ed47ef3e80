"""RoboPaliGemma presets: PaliGemma architectures, built without a download.

``full`` mirrors google/paligemma-3b-pt-224. Every size is spelled out because transformers'
default ``PaliGemmaConfig()`` is not that checkpoint (its vision MLP, vocabulary and image token
id differ). Special ids follow Gemma's tokenizer, and ``<image>`` sits after the text vocabulary
as in the checkpoint.
"""

from __future__ import annotations

from typing import Any

from transformers import GemmaConfig, PaliGemmaConfig, SiglipImageProcessorPil, SiglipVisionConfig
from transformers.image_utils import PILImageResampling

from robovlms.model.presets import preset_settings
from robovlms.model.tokenization import local_tokenizer

#: Gemma's special tokens and their ids
SPECIAL_TOKENS = {"<pad>": 0, "<eos>": 1, "<bos>": 2, "<unk>": 3}
ROLE_IDS = {"pad_token_id": 0, "eos_token_id": 1, "bos_token_id": 2}

PRESETS: dict[str, dict[str, Any]] = {
    "tiny": dict(
        vision_config=dict(
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=4,
            patch_size=8,
            image_size=32,
        ),
        text_config=dict(
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=1,
            head_dim=16,
            vocab_size=320,
        ),
        image_token_id=260,  # right after the 4 special tokens and the 256 bytes
    ),
    "full": dict(
        vision_config=dict(
            hidden_size=1152,
            intermediate_size=4304,
            num_hidden_layers=27,
            num_attention_heads=16,
            patch_size=14,
            image_size=224,
        ),
        text_config=dict(
            hidden_size=2048,
            intermediate_size=16384,
            num_hidden_layers=18,
            num_attention_heads=8,
            num_key_value_heads=1,
            head_dim=256,
            vocab_size=257216,
        ),
        image_token_id=257152,  # after Gemma's 256000 tokens and the 1024 <loc> and 128 <seg> tokens
    ),
}


def preset_config(preset: str, image_size: int | None) -> PaliGemmaConfig:
    """The preset's config; ``image_size`` sets the resolution, and with it the number of image tokens."""
    settings = preset_settings(PRESETS, preset, image_size)
    text = GemmaConfig(**settings.pop("text_config"), **ROLE_IDS)
    return PaliGemmaConfig(
        # every patch is a token: no pooling head
        vision_config=SiglipVisionConfig(**settings.pop("vision_config"), vision_use_head=False),
        text_config=text,
        **settings,
        projection_dim=text.hidden_size,
        hidden_size=text.hidden_size,  # the top-level copies the checkpoint's config.json also has
        vocab_size=text.vocab_size,
        **ROLE_IDS,
    )


def preset_tokenizer(config: PaliGemmaConfig) -> Any:
    """Gemma's special ids, ``<image>`` at the config's ``image_token_id``, bytes for text."""
    specials = {**SPECIAL_TOKENS, "<image>": config.image_token_id}
    return local_tokenizer(
        config.text_config.vocab_size,
        specials,
        pad_token="<pad>",
        eos_token="<eos>",
        bos_token="<bos>",
        unk_token="<unk>",
    )


def preset_image_processor(config: PaliGemmaConfig) -> SiglipImageProcessorPil:
    """pt-224's processor (SigLIP: bicubic, mean = std = 0.5, so pixels in [-1, 1]) at the preset's size.

    The PIL variant, because the default SigLIP processor needs torchvision, which robovlms does not.
    """
    size = config.vision_config.image_size
    return SiglipImageProcessorPil(
        size={"height": size, "width": size},
        resample=PILImageResampling.BICUBIC,
        image_mean=[0.5, 0.5, 0.5],
        image_std=[0.5, 0.5, 0.5],
        image_seq_length=config.text_config.num_image_tokens,  # PaliGemmaProcessor reads it
    )
