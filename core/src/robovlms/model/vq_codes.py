"""Backbones over a VLM whose images become discrete VQ codes in the text vocabulary (Chameleon, Emu3).

These have no vision encoder of features: a VQ-GAN (``model.model.vqmodel``) turns each image into a
grid of codebook indices, the vocabulary map turns each index into a token id, and the word embedding
embeds those ids at the prompt's ``<image>`` placeholders, one placeholder per code (Emu3 ends each row
of codes with an end-of-line token, which takes a placeholder too). The VLM's ``get_image_features``
returns exactly those embeddings, so robovlms's image tokens are the VLM's own; the language model is
``model.model`` (Chameleon) or ``model.model.text_model`` (Emu3), which reads ``inputs_embeds``.

The codes are chosen by an argmin, through which no gradient passes. So that training reaches the
VQ encoder (``freeze_vision_tower: false``), the image tokens carry a straight-through gradient: the
forward value is the codes' embeddings exactly, the backward one that of a softmax over the codebook
distances, weighting the codes' embeddings (the estimator of straight-through Gumbel-softmax).
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from robovlms.errors import ConfigError
from robovlms.model.backbone import BaseRoboVLM
from robovlms.model.sequence import ImageLayout


def chameleon_code(index: int) -> str:
    """Chameleon's token for VQ code ``index``: ``IMGIMG``, the decimal digits as letters A-J, then ``Z``."""
    return "IMGIMG" + "".join(chr(ord("A") + int(digit)) for digit in str(index)) + "Z"


def emu3_code(index: int) -> str:
    """Emu3's token for VQ code ``index``: its six digits in ``<|visual token...|>``."""
    return f"<|visual token{index:06d}|>"


#: how each VQ class names its code tokens in ``vocabulary_map`` (its modeling code parses the names back)
CODE_NAMES: dict[str, Callable[[int], str]] = {"chameleon": chameleon_code, "emu3": emu3_code}
#: the token that ends each row of codes, for the classes that have one (Emu3's end-of-line)
ROW_ENDS = {"emu3": "<|extra_200|>"}


def code_vocabulary(model_type: str, vocab_size: int, codes: int, image_token_id: int) -> dict[str, int]:
    """A ``vocabulary_map`` for a preset: ``<image>`` at ``image_token_id``, the codes at the top ``codes`` ids.

    A checkpoint's config.json brings its tokenizer's own map; a preset has no tokenizer to read it from.
    """
    name = CODE_NAMES[model_type]
    first = vocab_size - codes
    row_end = {ROW_ENDS[model_type]: first - 1} if model_type in ROW_ENDS else {}
    if not 0 <= image_token_id < first - len(row_end):
        raise ConfigError(
            f"image_token_id {image_token_id} must lie below the {codes + len(row_end)} ids of the codes "
            "(and the row end) at the vocabulary's top"
        )
    return {"<image>": image_token_id, **row_end, **{name(index): first + index for index in range(codes)}}


def vq_config(config: Any) -> Any:
    """The VQ model's config: ``vq_config`` (Chameleon, Emu3), or ``vision_config`` (Apertus 1.5's VQ tokenizer)."""
    return getattr(config, "vq_config", None) or config.vision_config


def vq_resolution(config: Any) -> int:
    """The side of the frames a preset's image processor makes: the VQ config's ``resolution``."""
    return int(vq_config(config).resolution)


def vq_preset_settings(presets: Mapping[str, Mapping[str, Any]], preset: str, image_size: int | None) -> dict[str, Any]:
    """``presets[preset]`` as config keywords: the VQ model at ``image_size`` and the vocabulary map built.

    The VQ encoder halves the resolution once per step of ``channel_multiplier`` but the first, so the
    image becomes ``(image_size / factor)**2`` codes; a size that does not divide would lose pixels. A class
    that places its codes by ``image_token_offset`` (Apertus 1.5) needs no vocabulary map.
    """
    settings = copy.deepcopy(dict(presets[preset]))
    vq = settings.get("vq_config") or settings["vision_config"]
    if image_size:
        factor = 2 ** (len(vq["channel_multiplier"]) - 1)
        if image_size % factor:
            raise ConfigError(
                f"vlm.image_size {image_size} must be a multiple of the VQ encoder's downsampling {factor}"
            )
        vq["resolution"] = image_size
    text = settings.get("text_config", settings)  # Emu3 keeps the language model's sizes in a text_config
    codes = vq.get("num_embeddings", vq.get("codebook_size"))
    model_type = settings.pop("model_type")
    if model_type in CODE_NAMES:
        settings["vocabulary_map"] = code_vocabulary(model_type, text["vocab_size"], codes, settings["image_token_id"])
    return settings


class VQCodesBackbone(BaseRoboVLM):
    """A ``tokens``-fusion backbone whose image tokens are the word embeddings of an image's VQ codes."""

    @property
    def text_tower(self) -> nn.Module:
        """The language model over ``inputs_embeds``: Emu3's ``text_model``, Apertus 1.5's ``language_model``,
        else ``model.model`` itself (Chameleon's, which also holds the VQ model and the embeddings)."""
        inner = self.model.model
        module: nn.Module = getattr(inner, "text_model", None) or getattr(inner, "language_model", None) or inner
        return module

    @property
    def vision_tower(self) -> nn.Module:
        """The VQ model (its encoder and codebook) that turns pixels into codes."""
        inner = self.model.model
        module: nn.Module = getattr(inner, "vqmodel", None) or inner.vision_tokenizer
        return module

    @property
    def downsampling(self) -> int:
        """Pixels per code along each side: the VQ encoder halves the resolution once per level but the first."""
        return int(2 ** (len(vq_config(self.model.config).channel_multiplier) - 1))

    @property
    def row_end(self) -> bool:
        """Whether each row of codes ends with a token of its own (Emu3's end-of-line), in the prompt too."""
        mapping = getattr(self.model.model, "vocabulary_mapping", None)
        return getattr(mapping, "eol_token_id", None) is not None

    def image_layout(self, height: int, width: int) -> ImageLayout:
        """An image of ``height`` x ``width`` pixels takes one placeholder per code (and per row's end)."""
        rows, columns = height // self.downsampling, width // self.downsampling
        return ImageLayout(height, width, tokens=rows * (columns + self.row_end), grid=(rows, columns))

    def image_inputs(self, pixel_values: torch.Tensor) -> dict[str, torch.Tensor]:
        """Emu3 takes each image's ``image_sizes`` (height, width) beside the pixels; a batch's frames share one."""
        if "image_sizes" not in inspect.signature(self.model.model.get_image_features).parameters:
            return {}
        size = [int(pixel_values.shape[-2]), int(pixel_values.shape[-1])]
        return {"image_sizes": torch.tensor([size] * len(pixel_values), device=pixel_values.device)}

    def reference_inputs(
        self, pixel_values: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> dict[str, Any]:
        return {**super().reference_inputs(pixel_values, input_ids, attention_mask), **self.image_inputs(pixel_values)}

    def model_encode_images(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """The embeddings of the image's codes, as the VLM's forward places them, with a straight-through gradient."""
        out = self.model.model.get_image_features(pixel_values=pixel_values, **self.image_inputs(pixel_values))
        pooled = out.pooler_output
        hard: torch.Tensor = torch.stack(pooled) if isinstance(pooled, (list, tuple)) else pooled
        if not torch.is_grad_enabled():
            return hard
        soft = self._soft_codes(self._latents(out, pixel_values))
        if self.row_end:  # the end-of-line tokens are no codes: no gradient to pass on
            soft = torch.cat([soft, soft.new_zeros(*soft.shape[:2], 1, soft.shape[-1])], dim=2)
        return hard + (soft.flatten(1, 2) - soft.flatten(1, 2).detach())  # the value stays hard's exactly: x + 0

    def _latents(self, out: Any, pixel_values: torch.Tensor) -> torch.Tensor:
        """The quantizer's input ``(B, rows, columns, C)``, with the gradient of the VQ encoder.

        Chameleon returns it (its quantizer's own straight-through states); Emu3 returns the encoder's
        states ``(B, T, C, H, W)`` before the 1 x 1 convolution that makes the quantizer's input; Apertus 1.5
        returns only the codes, so its tokenizer's encoder runs again.
        """
        quantized = getattr(out, "quantized_last_hidden_state", None)
        if quantized is not None:
            return quantized.permute(0, 2, 3, 1)
        tower: Any = self.vision_tower
        if getattr(out, "last_hidden_state", None) is None:
            states = tower.quant_conv(tower.encoder(pixel_values.to(tower.quant_conv.weight.dtype)))
            return states.permute(0, 2, 3, 1)
        states = tower.quant_conv(out.last_hidden_state.permute(0, 2, 1, 3, 4))  # (B, C, T, H, W)
        return states[:, :, 0].permute(0, 2, 3, 1)  # an image is one step of time

    def _soft_codes(self, latents: torch.Tensor) -> torch.Tensor:
        """A softmax over the quantizer's scores, weighting the codes' embeddings: ``(B, rows, columns, D)``.

        The scores are the quantizer's own: minus the squared distance to each code (Chameleon, Emu3), or
        the inner product (Apertus 1.5's, a linear layer over the codebook).
        """
        tower: Any = self.vision_tower
        codebook = tower.quantize.embedding
        flat = latents.flatten(1, 2)
        if isinstance(codebook, nn.Linear):
            scores = codebook(flat.to(codebook.weight.dtype))
            ids = self.model.config.image_token_offset + torch.arange(codebook.out_features)
        else:
            scores = -torch.cdist(flat, codebook.weight.unsqueeze(0)).pow(2)
            ids = self.model.model.vocabulary_mapping.img2bpe_mapping_tensor[: len(codebook.weight)]
        rows = self.word_embedding(ids.to(device=flat.device, dtype=torch.long))  # (codes, D)
        soft: torch.Tensor = torch.softmax(scores, dim=-1).to(rows.dtype) @ rows
        return soft.unflatten(1, latents.shape[1:3])
