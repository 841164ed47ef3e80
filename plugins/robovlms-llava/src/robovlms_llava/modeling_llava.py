"""LLaVA-1.5 as a robovlms backbone (``"backbone": "llava"``)."""

from __future__ import annotations

from transformers import LlavaForConditionalGeneration

from robovlms import BaseRoboVLM
from robovlms_llava import configuration_llava as presets


class RoboLLaVA(BaseRoboVLM):
    """Projected CLIP patch features replace the ``<image>`` placeholders of LLaVA-1.5's prompt.

    The core's defaults fit the towers and ``model_encode_images`` as they are: ``get_image_features``
    takes the checkpoint config's ``vision_feature_layer`` and ``vision_feature_select_strategy``.
    """

    name = "llava"
    model_class = LlavaForConditionalGeneration
    fusion = "tokens"
    configuration = presets
    add_special_tokens = True  # the Llama tokenizer adds <s>, as in LlavaProcessor

    def prompt(self, instruction: str) -> str:
        """LLaVA-1.5's template, with ``<image>`` repeated once per image token as LlavaProcessor expands it."""
        image = self.tokenizer.convert_ids_to_tokens(self.image_token_id) * presets.image_token_count(self.model.config)
        return f"USER: {image}\n{instruction} ASSISTANT:"
