"""RoboFlamingo: Idefics, the open Flamingo, as a robovlms backbone.

Images never enter the token sequence: their perceiver latents reach the text through gated
cross-attention, so the prompt carries no image markers and every position attends the image.
The core's :class:`~robovlms.model.cross_attention.CrossAttentionBackbone` covers the towers, the
image path and the language model under Idefics's image mask; the presets and the prompt are here.
"""

from __future__ import annotations

from types import ModuleType
from typing import ClassVar

from transformers import IdeficsForVisionText2Text

from robovlms.model.cross_attention import CrossAttentionBackbone
from robovlms_flamingo import configuration_flamingo as presets


class RoboFlamingo(CrossAttentionBackbone):
    name = "flamingo"
    model_class = IdeficsForVisionText2Text
    configuration: ClassVar[ModuleType] = presets

    def prompt(self, instruction: str) -> str:
        return f"{self.tokenizer.bos_token}{instruction}"
