"""Idefics-style backbones: images read through gated cross-attention layers under an image mask of the VLM's own.

Idefics (the open Flamingo) puts no image tokens into the sequence: a perceiver resamples the vision
encoder's states, and cross-attention layers between the decoder's layers read them wherever its
``image_attention_mask`` ``(B, L, I)`` lets a position see an image. robovlms's own
``image_attention_mask`` (which positions see which image, in every history mode) is exactly that
mask, so the language model runs inside ``model.model`` with the images stacked as it takes them.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
from torch import nn

from robovlms.config import VLMConfig
from robovlms.errors import PluginError
from robovlms.model.backbone import BaseRoboVLM, Fusion


class CrossAttentionBackbone(BaseRoboVLM):
    """A ``cross_attention``-fusion backbone over Idefics's layout (``model.model`` holds every part)."""

    fusion: ClassVar[Fusion] = "cross_attention"

    @property
    def text_tower(self) -> nn.Module:
        return self.model.model  # decoder, gated cross-attention, perceiver, embeddings (and the vision tower)

    @property
    def vision_tower(self) -> nn.Module:
        return self.model.model.vision_model

    @property
    def image_token_id(self) -> int:
        """Idefics's ``<image>`` id, in the tokenizer only (after the text vocabulary); the prompt holds none."""
        token: int = self.tokenizer.convert_tokens_to_ids("<image>")
        return token

    def model_encode_images(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """One image per sample, ``(B, C, H, W)``, to what cross-attention reads: the perceiver's latents where
        the model resamples, else the vision encoder's states."""
        features = self.vision_tower(pixel_values=pixel_values.to(self.model.dtype)).last_hidden_state
        if getattr(self.model.config, "use_resampler", False):
            return self.model.model.perceiver_resampler(features)
        return features

    def forward_text(
        self,
        inputs_embeds: torch.Tensor,
        attention_mask: torch.Tensor,
        *,
        image_tokens: torch.Tensor | None = None,
        image_attention_mask: torch.Tensor | None = None,
        **_: Any,
    ) -> torch.Tensor:
        """Idefics takes the images of all sequences stacked: ``(B * I, N, D)``."""
        image_tokens, image_attention_mask = self._images(image_tokens, image_attention_mask)
        stacked = image_tokens.flatten(0, 1)
        images = {"perceiver_embeddings" if self.model.config.use_resampler else "image_encoder_embeddings": stacked}
        return self.text_tower(
            inputs_embeds=inputs_embeds,
            attention_mask=attention_mask,
            image_attention_mask=image_attention_mask,
            use_cache=False,
            **images,
        ).last_hidden_state

    def _images(
        self, image_tokens: torch.Tensor | None, image_attention_mask: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if image_tokens is None or image_attention_mask is None:
            raise PluginError(
                f"backbone {self.name!r}: forward_text needs image_tokens and image_attention_mask (cross-attention "
                "fusion reads the images there, not in the sequence)"
            )
        return image_tokens, image_attention_mask

    def reference_inputs(
        self, pixel_values: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> dict[str, Any]:
        """Idefics's own forward takes images as ``(B, I, C, H, W)`` and which positions see each."""
        return {
            "input_ids": input_ids,
            "pixel_values": pixel_values.unsqueeze(1),
            "attention_mask": attention_mask,
            "image_attention_mask": attention_mask.unsqueeze(-1),
        }


class TiledCrossAttentionBackbone(CrossAttentionBackbone):
    """Mllama's kind: the images cut into tiles, cross-attention under a mask per image and tile.

    A square robovlms frame is one tile of the processor's size (aspect ratio 1:1, the first of the
    config's ``supported_aspect_ratios``); the model's other tile slots hold zeros and are masked out,
    as its processor pads them. The image tokens are the projected states of all ``max_num_tiles``
    slots; the cross-attention mask lets each position see the first tile of the images
    ``image_attention_mask`` gives it.
    """

    #: where a preset opens the cross-attention gates, which Mllama initialises at zero (tanh(0) shuts out the
    #: images): at random weights, as no checkpoint of it, a closed gate would leave the text blind
    PRESET_GATE = math.pi / 4

    def __init__(self, model: nn.Module, tokenizer: Any, processor: Any, config: VLMConfig) -> None:
        super().__init__(model, tokenizer, processor, config)
        if config.preset is not None:
            with torch.no_grad():
                for name, parameter in self.model.named_parameters():
                    if name.endswith(("cross_attn_attn_gate", "cross_attn_mlp_gate")):
                        parameter.fill_(self.PRESET_GATE)

    @property
    def text_tower(self) -> nn.Module:
        return self.model.model.language_model

    def _tiles(self, pixel_values: torch.Tensor) -> dict[str, torch.Tensor]:
        """A frame as one tile: ``pixel_values`` ``(B, 1, tiles, C, H, W)``, ``aspect_ratio_ids`` and mask."""
        b = pixel_values.shape[0]
        slots = int(self.model.config.vision_config.max_num_tiles)
        tiles = pixel_values.new_zeros(b, 1, slots, *pixel_values.shape[1:])
        tiles[:, 0, 0] = pixel_values
        used = self._used_tiles(pixel_values).expand(b, 1, -1)
        ids = torch.ones(b, 1, dtype=torch.long, device=pixel_values.device)  # the id of 1:1, the first ratio
        return {"pixel_values": tiles, "aspect_ratio_ids": ids, "aspect_ratio_mask": used}

    def _used_tiles(self, like: torch.Tensor) -> torch.Tensor:
        slots = int(self.model.config.vision_config.max_num_tiles)
        used = torch.zeros(1, 1, slots, dtype=torch.long, device=like.device)
        used[..., 0] = 1
        return used

    def model_encode_images(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W)`` to the projected states of the image's tile slots, ``(B, tiles * patches, D)``."""
        tiles = self._tiles(pixel_values.to(self.model.dtype))
        states = self.vision_tower(**tiles).last_hidden_state
        return self.model.model.multi_modal_projector(states).flatten(1, 3)

    def forward_text(
        self,
        inputs_embeds: torch.Tensor,
        attention_mask: torch.Tensor,
        *,
        image_tokens: torch.Tensor | None = None,
        image_attention_mask: torch.Tensor | None = None,
        **_: Any,
    ) -> torch.Tensor:
        """The language model with the images' states and robovlms's mask as the model's mask per tile."""
        image_tokens, image_attention_mask = self._images(image_tokens, image_attention_mask)
        from transformers.models.mllama.modeling_mllama import _prepare_cross_attention_mask

        patches = int(self.model.model.vision_model.num_patches)
        per_tile = image_attention_mask[..., None] * self._used_tiles(image_attention_mask)[0]
        mask, rows = _prepare_cross_attention_mask(per_tile, num_vision_tokens=patches, dtype=inputs_embeds.dtype)
        return self.text_tower(
            inputs_embeds=inputs_embeds,
            attention_mask=attention_mask,
            cross_attention_states=image_tokens.reshape(-1, patches, image_tokens.shape[-1]),
            cross_attention_mask=mask,
            full_text_row_masked_out_mask=rows,
            use_cache=False,
        ).last_hidden_state

    def reference_inputs(
        self, pixel_values: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> dict[str, Any]:
        """Mllama's own inputs: the frame as one tile, the cross-attention mask of every position's image."""
        per_tile = attention_mask[..., None, None] * self._used_tiles(attention_mask)[0]
        return {"input_ids": input_ids, "attention_mask": attention_mask, "cross_attention_mask": per_tile} | (
            self._tiles(pixel_values)
        )
