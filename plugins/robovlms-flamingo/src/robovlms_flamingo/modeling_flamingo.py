"""RoboFlamingo: Idefics, the open Flamingo, as a robovlms backbone.

Images never enter the token sequence: their perceiver latents reach the text through gated
cross-attention, so the prompt carries no image markers and every position attends the image.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from transformers import IdeficsForVisionText2Text

from robovlms import BaseRoboVLM
from robovlms_flamingo import configuration_flamingo as presets


class RoboFlamingo(BaseRoboVLM):
    name = "flamingo"
    model_class = IdeficsForVisionText2Text
    fusion = "cross_attention"
    configuration = presets

    @property
    def text_tower(self) -> nn.Module:
        return self.model.model  # decoder, gated cross-attention, perceiver, embeddings (and the vision tower)

    @property
    def vision_tower(self) -> nn.Module:
        return self.model.model.vision_model

    @property
    def image_token_id(self) -> int:
        return self.tokenizer.convert_tokens_to_ids("<image>")

    def prompt(self, instruction: str) -> str:
        return f"{self.tokenizer.bos_token}{instruction}"

    def model_encode_images(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """One image per sample, ``(B, C, H, W)``, to the perceiver latents that cross-attention reads."""
        features = self.vision_tower(pixel_values=pixel_values.to(self.model.dtype)).last_hidden_state
        return self.model.model.perceiver_resampler(features)

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
        return self.text_tower(
            inputs_embeds=inputs_embeds,
            attention_mask=attention_mask,
            perceiver_embeddings=image_tokens.flatten(0, 1),
            image_attention_mask=image_attention_mask,
            use_cache=False,
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
