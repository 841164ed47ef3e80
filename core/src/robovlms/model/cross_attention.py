"""Idefics-style backbones: images read through gated cross-attention layers under an image mask of the VLM's own.

Idefics (the open Flamingo) puts no image tokens into the sequence: a perceiver resamples the vision
encoder's states, and cross-attention layers between the decoder's layers read them wherever its
``image_attention_mask`` ``(B, L, I)`` lets a position see an image. robovlms's own
``image_attention_mask`` (which positions see which image, in every history mode) is exactly that
mask, so the language model runs inside ``model.model`` with the images stacked as it takes them.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from robovlms.model.backbone import BaseRoboVLM


class CrossAttentionBackbone(BaseRoboVLM):
    """A ``cross_attention``-fusion backbone over Idefics's layout (``model.model`` holds every part)."""

    fusion = "cross_attention"

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
        image_tokens: torch.Tensor,
        image_attention_mask: torch.Tensor,
        **_: Any,
    ) -> torch.Tensor:
        """Idefics takes the images of all sequences stacked: ``(B * I, N, D)``."""
        stacked = image_tokens.flatten(0, 1)
        images = {"perceiver_embeddings" if self.model.config.use_resampler else "image_encoder_embeddings": stacked}
        return self.text_tower(
            inputs_embeds=inputs_embeds,
            attention_mask=attention_mask,
            image_attention_mask=image_attention_mask,
            use_cache=False,
            **images,
        ).last_hidden_state

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
