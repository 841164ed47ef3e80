"""The presets of the ``llava`` backbone: transformers configs, a local tokenizer, the image processor.

``full`` is the architecture of llava-hf/llava-1.5-7b-hf (CLIP ViT-L/14 at 336 px, a two-layer GELU
projector, Vicuna-7B) so benchmarks see the real shapes without a download; ``tiny`` keeps every part
of that structure, including llava-1.5's token layout, at a size that runs in milliseconds.
"""

from __future__ import annotations

from typing import Any

from tokenizers.processors import TemplateProcessing
from transformers import CLIPImageProcessor, LlavaConfig, PreTrainedTokenizerFast

from robovlms.errors import ConfigError
from robovlms.tokenization import local_tokenizer

_VISION: dict[str, dict[str, Any]] = {
    "tiny": {
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "image_size": 32,
        "patch_size": 8,
        "projection_dim": 64,
    },
    "full": {
        "hidden_size": 1024,
        "intermediate_size": 4096,
        "num_hidden_layers": 24,
        "num_attention_heads": 16,
        "image_size": 336,
        "patch_size": 14,
        "projection_dim": 768,
    },
}
# llava-1.5 appends <image> and <pad> to Llama's 32000 ids and pads the table to 32064; tiny does the
# same after its 3 Llama specials and 256 bytes
_TEXT: dict[str, dict[str, Any]] = {
    "tiny": {
        "vocab_size": 264,
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 4,
        "pad_token_id": 260,
    },
    "full": {
        "vocab_size": 32064,
        "hidden_size": 4096,
        "intermediate_size": 11008,
        "num_hidden_layers": 32,
        "num_attention_heads": 32,
        "num_key_value_heads": 32,
        "max_position_embeddings": 4096,
        "pad_token_id": 32001,
    },
}
_IMAGE_TOKEN = {"tiny": 259, "full": 32000}


def image_token_count(config: LlavaConfig) -> int:
    """Placeholders per image: one per patch, plus CLS when the strategy keeps it (``"full"``)."""
    vision = config.vision_config
    return (vision.image_size // vision.patch_size) ** 2 + int(config.vision_feature_select_strategy == "full")


def preset_config(preset: str, image_size: int | None) -> LlavaConfig:
    """The preset's config; ``image_size`` resizes the CLIP grid (position embeddings included)."""
    vision = dict(_VISION[preset], model_type="clip_vision_model")
    size = vision["image_size"] = image_size or vision["image_size"]
    if size % vision["patch_size"]:
        raise ConfigError(f"vlm.image_size {size} must be a multiple of the patch size {vision['patch_size']}")
    config = LlavaConfig(
        vision_config=vision,
        text_config=dict(_TEXT[preset], model_type="llama", rms_norm_eps=1e-5),
        image_token_index=_IMAGE_TOKEN[preset],
        projector_hidden_act="gelu",
        vision_feature_layer=-2,
        vision_feature_select_strategy="default",
    )
    config.image_seq_length = image_token_count(config)
    return config


def preset_tokenizer(config: LlavaConfig) -> PreTrainedTokenizerFast:
    """A byte-level stand-in for llava-1.5's Llama tokenizer: same special ids, BOS added the same way."""
    text = config.text_config
    specials = {
        "<unk>": 0,
        "<s>": text.bos_token_id,
        "</s>": text.eos_token_id,
        "<image>": config.image_token_id,
        "<pad>": text.pad_token_id,
    }
    tokenizer = local_tokenizer(
        text.vocab_size, specials, unk_token="<unk>", bos_token="<s>", eos_token="</s>", pad_token="<pad>"
    )
    tokenizer.backend_tokenizer.post_processor = TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", text.bos_token_id)]
    )
    return tokenizer


def preset_image_processor(config: LlavaConfig) -> CLIPImageProcessor:
    """llava-1.5's preprocessing (bicubic resize, center crop, OpenAI CLIP mean/std) at the preset's size."""
    size = config.vision_config.image_size
    return CLIPImageProcessor(size={"shortest_edge": size}, crop_size={"height": size, "width": size})
