"""RoboKosmos2: Kosmos-2 as a robovlms backbone (``"backbone": "kosmos2"``).

Kosmos-2 resamples the CLIP patches into ``latent_query_num`` (64) image tokens that sit in the
prompt between ``<image>`` and ``</image>``. Their ids are ordinary text ids (Kosmos2Processor
writes ``<unk>``'s id + 1 onwards), so where the image goes is a position mask, not an id
(``image_slots``). The rest of Kosmos-2's layout (towers at the top level, text positions counted
over non-padding tokens, hidden states read on the way) is the core's
:class:`~robovlms.model.position_mask.PositionMaskBackbone`.
"""

from __future__ import annotations

from types import ModuleType
from typing import ClassVar

import torch
from transformers import Kosmos2ForConditionalGeneration

from robovlms.model.backbone import EncodedPrompt
from robovlms.model.position_mask import PositionMaskBackbone
from robovlms_kosmos2 import configuration_kosmos2


class RoboKosmos2(PositionMaskBackbone):
    name = "kosmos2"
    model_class = Kosmos2ForConditionalGeneration
    fusion = "tokens"
    configuration: ClassVar[ModuleType] = configuration_kosmos2

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
