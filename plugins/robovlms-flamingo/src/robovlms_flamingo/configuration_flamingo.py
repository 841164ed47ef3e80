"""RoboFlamingo presets: Idefics (the open Flamingo) architectures, built without a download.

``full`` mirrors HuggingFaceM4/idefics-9b. Both presets leave freezing to robovlms's training
switches (IdeficsConfig freezes the text and vision layers by default) and tiny draws its
cross-attention gates at random so that images reach the text even before training.
"""

from __future__ import annotations

from typing import Any

from transformers import IdeficsConfig, IdeficsImageProcessor

from robovlms.model.presets import preset_settings
from robovlms.model.tokenization import local_tokenizer

#: Idefics keeps LLaMA's vocabulary and appends these two ids after it (``additional_vocab_size``)
IMAGE_TOKENS = ("<fake_token_around_image>", "<image>")

PRESETS: dict[str, dict[str, Any]] = {
    "tiny": dict(
        vocab_size=259,  # <unk>, <s>, </s> and the 256 bytes
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        cross_layer_interval=1,
        max_position_embeddings=512,
        alpha_initializer="normal",
        alpha_type="vector",
        alphas_initializer_range=0.5,
        vision_config=dict(
            embed_dim=32, image_size=32, patch_size=8, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64
        ),
        perceiver_config=dict(
            use_resampler=True, resampler_n_latents=8, resampler_depth=1, resampler_n_heads=2, resampler_head_dim=16
        ),
    ),
    "full": dict(
        vocab_size=32000,
        hidden_size=4096,
        intermediate_size=11008,
        num_hidden_layers=32,
        num_attention_heads=32,
        cross_layer_interval=4,
        max_position_embeddings=2048,
        alpha_initializer="zeros",  # idefics-9b's own init: the gates stay closed until trained
        alpha_type="float",
        vision_config=dict(
            embed_dim=1280,
            image_size=224,
            patch_size=14,
            num_hidden_layers=32,
            num_attention_heads=16,
            intermediate_size=5120,
        ),
        perceiver_config=dict(
            use_resampler=True, resampler_n_latents=64, resampler_depth=6, resampler_n_heads=16, resampler_head_dim=96
        ),
    ),
}


def preset_config(preset: str, image_size: int | None) -> IdeficsConfig:
    """``image_size`` replaces the vision encoder's resolution; its position embeddings follow it."""
    return IdeficsConfig(
        **preset_settings(PRESETS, preset, image_size),
        additional_vocab_size=len(IMAGE_TOKENS),
        use_resampler=True,
        freeze_text_layers=False,
        freeze_vision_layers=False,
        freeze_lm_head=True,  # robovlms never uses the LM head
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
    )


def preset_tokenizer(config: IdeficsConfig) -> Any:
    """LLaMA's special ids (<unk> doubles as padding, as in idefics-9b), image tokens after the vocabulary."""
    specials = {"<unk>": 0, "<s>": 1, "</s>": 2}
    specials.update({token: config.vocab_size + i for i, token in enumerate(IMAGE_TOKENS)})
    return local_tokenizer(
        config.vocab_size, specials, bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="<unk>"
    )


def preset_image_processor(config: IdeficsConfig) -> IdeficsImageProcessor:
    """idefics-9b's processor (CLIP mean/std, bicubic, square resize) at the preset's resolution."""
    return IdeficsImageProcessor(image_size=config.vision_config.image_size)
