"""RoboPaliGemma: PaliGemma as a robovlms backbone, and the model for writing your own.

PaliGemma is a prefix-LM. Its image tokens, ``<bos>``, the instruction and ``"\\n"`` form a prefix
that attends bidirectionally; tokens after it (the VLA's action tokens) attend causally. The base
class's defaults already fit the six attributes (the towers included) and ``model_encode_images``.
"""

from __future__ import annotations

from typing import Any

import torch
from transformers import PaliGemmaForConditionalGeneration

from robovlms import BaseRoboVLM
from robovlms_paligemma import configuration_paligemma as presets


class RoboPaliGemma(BaseRoboVLM):
    name = "paligemma"
    model_class = PaliGemmaForConditionalGeneration
    fusion = "tokens"
    configuration = presets

    def prompt(self, instruction: str) -> str:
        """PaliGemmaProcessor's layout: one ``<image>`` per image token, ``<bos>``, the instruction, ``"\\n"``."""
        image = self.tokenizer.convert_ids_to_tokens(self.image_token_id)
        return image * self.model.config.text_config.num_image_tokens + self.tokenizer.bos_token + instruction + "\n"

    def forward_text(
        self,
        inputs_embeds: torch.Tensor,
        attention_mask: torch.Tensor,
        *,
        prefix_mask: torch.Tensor | None = None,
        **_: Any,
    ) -> torch.Tensor:
        """PaliGemmaModel turns ``token_type_ids`` (0: prefix, 1: causal suffix) into its prefix-LM mask and
        counts positions from 1; given embeddings and no pixels, it runs just the language model with them.
        Padding counts as prefix, as in PaliGemmaProcessor; no ``prefix_mask`` means all prefix.
        """
        token_type_ids = attention_mask * ~prefix_mask if prefix_mask is not None else torch.zeros_like(attention_mask)
        return self.model.model(
            inputs_embeds=inputs_embeds, attention_mask=attention_mask, token_type_ids=token_type_ids, use_cache=False
        ).last_hidden_state

    def reference_inputs(
        self, pixel_values: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> dict[str, Any]:
        """A prompt alone is all prefix; without ``token_type_ids`` a padded prompt would attend causally."""
        inputs = super().reference_inputs(pixel_values, input_ids, attention_mask)
        return {**inputs, "token_type_ids": torch.zeros_like(input_ids), "use_cache": False}
