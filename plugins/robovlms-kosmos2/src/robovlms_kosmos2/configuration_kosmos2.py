"""RoboKosmos2 presets: Kosmos-2 architectures, built without a download.

``full`` mirrors microsoft/kosmos-2-patch14-224 (transformers' ``Kosmos2Config()`` defaults are that
checkpoint). Special ids follow its XLM-R tokenizer (``<s>`` 0, ``<pad>`` 1, ``</s>`` 2, ``<unk>``
3, ``<image>`` and ``</image>`` after the text vocabulary); the image's tokens take the ids right after
``<unk>``, as Kosmos2Processor writes them.
"""

from __future__ import annotations

from typing import Any

from transformers import CLIPImageProcessorPil, Kosmos2Config
from transformers.image_utils import OPENAI_CLIP_MEAN, OPENAI_CLIP_STD, PILImageResampling

from robovlms.model.presets import preset_settings
from robovlms.model.tokenization import local_tokenizer

ROLES = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}

PRESETS: dict[str, dict[str, Any]] = {
    "tiny": dict(
        vision_config=dict(
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            image_size=32,
            patch_size=8,
        ),
        text_config=dict(
            embed_dim=64, ffn_dim=128, layers=2, attention_heads=4, vocab_size=320, max_position_embeddings=512
        ),
        latent_query_num=16,
        boundaries={"<image>": 260, "</image>": 261},
    ),
    "full": dict(  # microsoft/kosmos-2-patch14-224
        vision_config=dict(
            hidden_size=1024,
            intermediate_size=4096,
            num_hidden_layers=24,
            num_attention_heads=16,
            image_size=224,
            patch_size=14,
        ),
        text_config=dict(
            embed_dim=2048, ffn_dim=8192, layers=24, attention_heads=32, vocab_size=65037, max_position_embeddings=2048
        ),
        latent_query_num=64,
        boundaries={"<image>": 64003, "</image>": 64004},
    ),
}


def preset_config(preset: str, image_size: int | None) -> Kosmos2Config:
    """The preset's config; ``image_size`` resizes the vision encoder (the image stays ``latent_query_num`` tokens)."""
    settings = preset_settings(PRESETS, preset, image_size)
    config = Kosmos2Config(
        vision_config=settings["vision_config"],
        text_config={**settings["text_config"], "pad_token_id": 1, "bos_token_id": 0, "eos_token_id": 2},
        latent_query_num=settings["latent_query_num"],
    )
    config.boi_token_id, config.eoi_token_id = settings["boundaries"].values()
    return config


def preset_tokenizer(config: Kosmos2Config) -> Any:
    """XLM-R's role ids and Kosmos-2's ``<image>``/``</image>`` at the config's ids, bytes for text."""
    specials = {**ROLES, "<image>": config.boi_token_id, "</image>": config.eoi_token_id}
    return local_tokenizer(
        config.text_config.vocab_size, specials, bos_token="<s>", pad_token="<pad>", eos_token="</s>", unk_token="<unk>"
    )


def preset_image_processor(config: Kosmos2Config) -> CLIPImageProcessorPil:
    """kosmos-2-patch14-224's preprocessing (bicubic shortest edge, center crop, OpenAI CLIP mean/std)."""
    size = config.vision_config.image_size
    return CLIPImageProcessorPil(
        size={"shortest_edge": size},
        crop_size={"height": size, "width": size},
        resample=PILImageResampling.BICUBIC,
        image_mean=OPENAI_CLIP_MEAN,
        image_std=OPENAI_CLIP_STD,
    )
