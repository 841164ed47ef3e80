"""RoboQwen2VL presets: Qwen2-VL and Qwen2.5-VL architectures, built without a download.

``full`` mirrors Qwen/Qwen2-VL-2B-Instruct and ``full-2.5`` Qwen/Qwen2.5-VL-3B-Instruct; ``tiny``
and ``tiny-2.5`` are the same layouts at test size. Special ids follow Qwen's tokenizer (``<|image_pad|>``
and the vision markers after the text vocabulary). Images have no fixed size: the processor keeps
each frame's area within a pixel budget, and ``vlm.image_size`` sets that budget to a square of that side.
"""

from __future__ import annotations

from typing import Any

from transformers import Qwen2_5_VLConfig, Qwen2VLConfig, Qwen2VLImageProcessorPil
from transformers.image_utils import OPENAI_CLIP_MEAN, OPENAI_CLIP_STD, PILImageResampling

from robovlms.errors import ConfigError
from robovlms.model.tokenization import local_tokenizer

#: Qwen's special tokens, in the order of its tokenizer (151643 onwards in the checkpoints)
SPECIALS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
)

_TINY_TEXT = dict(
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    vocab_size=320,
    rope_parameters={"rope_type": "default", "mrope_section": [2, 3, 3], "rope_theta": 1_000_000.0},
)
_FULL_ROPE = {"rope_type": "default", "mrope_section": [16, 24, 24], "rope_theta": 1_000_000.0}

PRESETS: dict[str, dict[str, Any]] = {
    "tiny": dict(
        vision_config=dict(depth=2, embed_dim=32, hidden_size=64, num_heads=2, patch_size=14),
        text_config=_TINY_TEXT,
        max_pixels=112 * 112,  # up to 8x8 patches, 4x4 image tokens
        first_special=260,
    ),
    "full": dict(  # Qwen2-VL-2B-Instruct
        vision_config=dict(depth=32, embed_dim=1280, hidden_size=1536, num_heads=16, patch_size=14),
        text_config=dict(
            hidden_size=1536,
            intermediate_size=8960,
            num_hidden_layers=28,
            num_attention_heads=12,
            num_key_value_heads=2,
            vocab_size=151936,
            rope_parameters=_FULL_ROPE,
        ),
        max_pixels=12845056,
        first_special=151643,
    ),
    "tiny-2.5": dict(
        vision_config=dict(
            depth=2,
            hidden_size=32,
            intermediate_size=64,
            num_heads=2,
            out_hidden_size=64,
            patch_size=14,
            window_size=56,
            fullatt_block_indexes=[1],
        ),
        text_config=_TINY_TEXT,
        max_pixels=112 * 112,
        first_special=260,
    ),
    "full-2.5": dict(  # Qwen2.5-VL-3B-Instruct
        vision_config=dict(
            depth=32,
            hidden_size=1280,
            intermediate_size=3420,
            num_heads=16,
            out_hidden_size=2048,
            patch_size=14,
            window_size=112,
            fullatt_block_indexes=[7, 15, 23, 31],
            tokens_per_second=2,
        ),
        text_config=dict(
            hidden_size=2048,
            intermediate_size=11008,
            num_hidden_layers=36,
            num_attention_heads=16,
            num_key_value_heads=2,
            vocab_size=151936,
            rope_parameters=_FULL_ROPE,
        ),
        max_pixels=12845056,
        first_special=151643,
    ),
}
MIN_PIXELS = 56 * 56


def preset_config(preset: str, image_size: int | None) -> Qwen2VLConfig | Qwen2_5_VLConfig:
    """The preset's config; ``image_size`` (a multiple of 28) sets the pixel budget to that square."""
    settings = PRESETS[preset]
    vision = settings["vision_config"]
    factor = vision["patch_size"] * 2
    if image_size is not None and (image_size % factor or image_size * image_size < MIN_PIXELS):
        raise ConfigError(
            f"vlm.image_size {image_size} must be a multiple of {factor} (patch size x merge size), at least 56"
        )
    ids = {token: settings["first_special"] + i for i, token in enumerate(SPECIALS)}
    config_class = Qwen2_5_VLConfig if preset.endswith("2.5") else Qwen2VLConfig
    text = dict(settings["text_config"], bos_token_id=ids["<|endoftext|>"], eos_token_id=ids["<|im_end|>"])
    config = config_class(
        vision_config=dict(vision),
        text_config=text,
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=True,
    )
    config.max_pixels = image_size * image_size if image_size else settings["max_pixels"]
    return config


def preset_tokenizer(config: Qwen2VLConfig) -> Any:
    """Qwen's special tokens at the config's ids (``<|image_pad|>`` at ``image_token_id``), bytes for text."""
    first = config.vision_start_token_id - SPECIALS.index("<|vision_start|>")
    specials = {token: first + i for i, token in enumerate(SPECIALS)}
    return local_tokenizer(config.text_config.vocab_size, specials, eos_token="<|im_end|>", pad_token="<|endoftext|>")


def preset_image_processor(config: Qwen2VLConfig) -> Qwen2VLImageProcessorPil:
    """The checkpoints' processor (bicubic, OpenAI CLIP mean/std, 56x56 to the preset's pixel budget).

    The PIL variant, because the default one needs torchvision, which robovlms does not.
    """
    vision = config.vision_config
    return Qwen2VLImageProcessorPil(
        size={"shortest_edge": MIN_PIXELS, "longest_edge": config.max_pixels},
        patch_size=vision.patch_size,
        temporal_patch_size=vision.temporal_patch_size,
        merge_size=vision.spatial_merge_size,
        resample=PILImageResampling.BICUBIC,
        image_mean=OPENAI_CLIP_MEAN,
        image_std=OPENAI_CLIP_STD,
    )
