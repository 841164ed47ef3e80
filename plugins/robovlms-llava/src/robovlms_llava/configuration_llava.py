"""The presets of the ``llava`` backbone: transformers configs, a local tokenizer, the image processor.

``full`` is the architecture of llava-hf/llava-1.5-7b-hf (CLIP ViT-L/14 at 336 px, a two-layer GELU
projector, Vicuna-7B) so benchmarks see the real shapes without a download; ``tiny`` keeps every part
of that structure, including llava-1.5's token layout, at a size that runs in milliseconds.
"""

from __future__ import annotations

from typing import Any

from tokenizers.processors import TemplateProcessing
from transformers import CLIPImageProcessor, LlavaConfig, PreTrainedTokenizerFast

from robovlms.model.presets import preset_settings
from robovlms.model.tokenization import local_tokenizer

# llava-1.5 appends <image> and <pad> to Llama's 32000 ids and pads the table to 32064; tiny does the
# same after its 3 Llama specials and 256 bytes
PRESETS: dict[str, dict[str, Any]] = {
    "tiny": {
        "vision_config": {
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "image_size": 32,
            "patch_size": 8,
            "projection_dim": 64,
        },
        "text_config": {
            "vocab_size": 264,
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "num_key_value_heads": 4,
            "pad_token_id": 260,
        },
        "image_token_index": 259,
    },
    "full": {
        "vision_config": {
            "hidden_size": 1024,
            "intermediate_size": 4096,
            "num_hidden_layers": 24,
            "num_attention_heads": 16,
            "image_size": 336,
            "patch_size": 14,
            "projection_dim": 768,
        },
        "text_config": {
            "vocab_size": 32064,
            "hidden_size": 4096,
            "intermediate_size": 11008,
            "num_hidden_layers": 32,
            "num_attention_heads": 32,
            "num_key_value_heads": 32,
            "max_position_embeddings": 4096,
            "pad_token_id": 32001,
        },
        "image_token_index": 32000,
    },
}


def image_token_count(config: LlavaConfig) -> int:
    """Placeholders per image: one per patch, plus CLS when the strategy keeps it (``"full"``)."""
    vision = config.vision_config
    return (vision.image_size // vision.patch_size) ** 2 + int(config.vision_feature_select_strategy == "full")


def preset_config(preset: str, image_size: int | None) -> LlavaConfig:
    """The preset's config; ``image_size`` resizes the CLIP grid (position embeddings included)."""
    settings = preset_settings(PRESETS, preset, image_size)
    config = LlavaConfig(
        vision_config={**settings.pop("vision_config"), "model_type": "clip_vision_model"},
        text_config={**settings.pop("text_config"), "model_type": "llama", "rms_norm_eps": 1e-5},
        **settings,
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
