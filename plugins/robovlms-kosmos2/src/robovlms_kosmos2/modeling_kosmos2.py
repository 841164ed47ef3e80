"""RoboKosmos2: Kosmos-2 as a robovlms backbone (``"backbone": "kosmos2"``).

Kosmos-2 resamples the CLIP patches into ``latent_query_num`` (64) image tokens that sit in the
prompt between ``<image>`` and ``</image>``. Their ids are ordinary text ids (Kosmos2Processor
writes ``<unk>``'s id + 1 onwards), so where the image goes is a position mask, not an id
(``image_slots``). Its text positions are counted over non-padding tokens only, so left padding
must not shift them (``forward_text``).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from transformers import Kosmos2ForConditionalGeneration

from robovlms import BaseRoboVLM
from robovlms.model.backbone import EncodedPrompt
from robovlms_kosmos2 import configuration_kosmos2


class RoboKosmos2(BaseRoboVLM):
    name = "kosmos2"
    model_class = Kosmos2ForConditionalGeneration
    fusion = "tokens"
    configuration = configuration_kosmos2

    @property
    def text_tower(self) -> nn.Module:
        return self.model.text_model.model

    @property
    def vision_tower(self) -> nn.Module:
        return self.model.vision_model

    @property
    def image_token_id(self) -> range:
        """The image's ids, one per token, as Kosmos2Processor numbers them (several ids, plugin API 1.2)."""
        first = self.tokenizer.unk_token_id + 1
        return range(first, first + self.model.config.latent_query_num)

    def image_slots(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Kosmos-2's ``image_embeds_position_mask``: the ``latent_query_num`` positions after the first ``<image>``."""
        boi = input_ids.eq(self.tokenizer.convert_tokens_to_ids("<image>"))
        offset = torch.arange(input_ids.shape[1], device=input_ids.device) - boi.int().argmax(dim=1, keepdim=True) - 1
        return (offset >= 0) & (offset < self.model.config.latent_query_num) & boi.any(dim=1, keepdim=True)

    def prompt(self, instruction: str) -> str:
        """Kosmos2Processor's layout: ``<s><image>``, one placeholder per image token, ``</image>``, the text."""
        return "<s><image>" + "<image>" * self.model.config.latent_query_num + "</image>" + instruction

    def tokenize(self, instructions: list[str], image_size: tuple[int, int] | None = None) -> EncodedPrompt:
        """The placeholders take the image's ids, as Kosmos2Processor gives them."""
        encoded = super().tokenize(instructions, image_size)
        slots = self.image_slots(encoded["input_ids"])
        numbered = self.image_token_id.start + slots.long().cumsum(dim=1) - 1
        return {
            "input_ids": torch.where(slots, numbered, encoded["input_ids"]),
            "attention_mask": encoded["attention_mask"],
        }

    def model_encode_images(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.model.get_image_features(pixel_values=pixel_values).pooler_output

    def forward_text(self, inputs_embeds: torch.Tensor, attention_mask: torch.Tensor, **_: Any) -> torch.Tensor:
        """Positions count valid tokens from ``pad_token_id + 1``, as Kosmos-2 counts them from its input ids."""
        mask = attention_mask.long()
        positions = mask.cumsum(dim=1) * mask + self.model.config.text_config.pad_token_id
        return self.text_tower(
            inputs_embeds=inputs_embeds, attention_mask=attention_mask, position_ids=positions, use_cache=False
        ).last_hidden_state

    def reference_forward(
        self, pixel_values: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> torch.Tensor:
        """Kosmos-2's own forward returns logits: its text decoder's final states are read on the way."""
        seen: list[torch.Tensor] = []
        hook = self.text_tower.register_forward_hook(lambda _m, _i, out: seen.append(out.last_hidden_state))
        try:
            self.model(
                pixel_values=pixel_values,
                input_ids=input_ids,
                attention_mask=attention_mask,
                image_embeds_position_mask=self.image_slots(input_ids).long(),
                use_cache=False,
            )
        finally:
            hook.remove()
        return seen[0]
