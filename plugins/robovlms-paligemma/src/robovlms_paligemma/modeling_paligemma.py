"""RoboPaliGemma: PaliGemma as a robovlms backbone, and the model for writing your own.

PaliGemma is a prefix-LM. Its image tokens, ``<bos>``, the instruction and ``"\\n"`` form a prefix
that attends bidirectionally; tokens after it (the VLA's action tokens) attend causally, which the
core's :class:`~robovlms.model.token_types.TokenTypeBackbone` tells PaliGemma through its
``token_type_ids``. The base class's defaults already fit the six attributes (the towers included)
and ``model_encode_images``.
"""

from __future__ import annotations

from types import ModuleType
from typing import ClassVar

from transformers import PaliGemmaForConditionalGeneration

from robovlms.model.token_types import TokenTypeBackbone
from robovlms_paligemma import configuration_paligemma as presets


class RoboPaliGemma(TokenTypeBackbone):
    name = "paligemma"
    model_class = PaliGemmaForConditionalGeneration
    fusion = "tokens"
    configuration: ClassVar[ModuleType] = presets
    #: a prefix-LM: token_type_ids 0 is the bidirectional prefix (the core derives them from prefix_mask)
    token_types = "prefix"

    def prompt(self, instruction: str) -> str:
        """PaliGemmaProcessor's layout: one ``<image>`` per image token, ``<bos>``, the instruction, ``"\\n"``."""
        image = self.tokenizer.convert_ids_to_tokens(self.image_token_id)
        return image * self.model.config.text_config.num_image_tokens + self.tokenizer.bos_token + instruction + "\n"
