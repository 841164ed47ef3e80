"""Backbones over a VLM whose images become discrete VQ codes in the text vocabulary (Chameleon).

Chameleon has no vision encoder of features: a VQ-GAN (``model.model.vqmodel``) turns each image into
a grid of codebook indices, the vocabulary map turns each index into a token id, and the word
embedding embeds those ids at the prompt's ``<image>`` placeholders, one placeholder per code. The
VLM's ``get_image_features`` returns exactly those embeddings, so robovlms's image tokens are the
VLM's own; the language model is ``model.model`` itself, which reads ``inputs_embeds``.

The codes are chosen by an argmin, through which no gradient passes. So that training reaches the
VQ encoder (``freeze_vision_tower: false``), the image tokens carry a straight-through gradient: the
forward value is the codes' embeddings exactly, the backward one that of a softmax over the codebook
distances, weighting the codes' embeddings (the estimator of straight-through Gumbel-softmax).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from robovlms.errors import ConfigError
from robovlms.model.backbone import BaseRoboVLM


def chameleon_code(index: int) -> str:
    """Chameleon's token for VQ code ``index``: ``IMGIMG``, the decimal digits as letters A-J, then ``Z``."""
    return "IMGIMG" + "".join(chr(ord("A") + int(digit)) for digit in str(index)) + "Z"


#: how each VQ class names its code tokens in ``vocabulary_map`` (its modeling code parses the names back)
CODE_NAMES: dict[str, Callable[[int], str]] = {"chameleon": chameleon_code}


def code_vocabulary(model_type: str, vocab_size: int, codes: int, image_token_id: int) -> dict[str, int]:
    """A ``vocabulary_map`` for a preset: ``<image>`` at ``image_token_id``, the codes at the top ``codes`` ids.

    A checkpoint's config.json brings its tokenizer's own map; a preset has no tokenizer to read it from.
    """
    name = CODE_NAMES[model_type]
    first = vocab_size - codes
    if not 0 <= image_token_id < first:
        raise ConfigError(
            f"image_token_id {image_token_id} must lie below the {codes} code ids at the vocabulary's top"
        )
    return {"<image>": image_token_id, **{name(index): first + index for index in range(codes)}}


def vq_preset_settings(presets: Mapping[str, Mapping[str, Any]], preset: str, image_size: int | None) -> dict[str, Any]:
    """``presets[preset]`` as config keywords: the VQ model at ``image_size`` and the vocabulary map built.

    The VQ encoder halves the resolution once per step of ``channel_multiplier`` but the first, so the
    image becomes ``(image_size / factor)**2`` codes; a size that does not divide would lose pixels.
    """
    settings = copy.deepcopy(dict(presets[preset]))
    vq = settings["vq_config"]
    if image_size:
        factor = 2 ** (len(vq["channel_multiplier"]) - 1)
        if image_size % factor:
            raise ConfigError(
                f"vlm.image_size {image_size} must be a multiple of the VQ encoder's downsampling {factor}"
            )
        vq["resolution"] = image_size
    image_token_id = settings.pop("image_token_id")
    settings["vocabulary_map"] = code_vocabulary(
        settings["model_type"], settings["vocab_size"], vq["num_embeddings"], image_token_id
    )
    del settings["model_type"]
    return settings


class VQCodesBackbone(BaseRoboVLM):
    """A ``tokens``-fusion backbone whose image tokens are the word embeddings of an image's VQ codes."""

    @property
    def text_tower(self) -> nn.Module:
        """``model.model``: the language model over ``inputs_embeds`` (it also holds the VQ model and embeddings)."""
        module: nn.Module = self.model.model
        return module

    @property
    def vision_tower(self) -> nn.Module:
        """The VQ model (its encoder and codebook) that turns pixels into codes."""
        module: nn.Module = self.model.model.vqmodel
        return module

    def model_encode_images(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """The embeddings of the image's codes, as the VLM's forward places them, with a straight-through gradient."""
        out = self.model.model.get_image_features(pixel_values=pixel_values)
        hard: torch.Tensor = out.pooler_output
        if not torch.is_grad_enabled():
            return hard
        soft = self._soft_codes(out.quantized_last_hidden_state)
        return hard + (soft - soft.detach())  # the value stays hard's exactly: x + 0

    def _soft_codes(self, quantized: torch.Tensor) -> torch.Tensor:
        """Codebook-distance softmax over the codes' embeddings, ``(B, N, hidden_size)``.

        ``quantized`` ``(B, C, H, W)`` holds the chosen code vectors in value and the encoder's output in
        gradient (the quantizer's own straight-through), in the row-major order of the codes.
        """
        latents = quantized.flatten(2).transpose(1, 2)  # (B, N, C)
        codebook: torch.Tensor = self.model.model.vqmodel.quantize.embedding.weight  # (codes, C)
        weights = torch.softmax(-torch.cdist(latents, codebook.unsqueeze(0)).pow(2), dim=-1)
        mapping = self.model.model.vocabulary_mapping.img2bpe_mapping_tensor[: len(codebook)]
        rows = self.word_embedding(mapping.to(device=codebook.device, dtype=torch.long))  # (codes, D)
        soft: torch.Tensor = weights.to(rows.dtype) @ rows
        return soft
