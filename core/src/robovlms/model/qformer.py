"""BLIP-2-style backbones: a Q-Former's query tokens in front of the text, the parts at the model's top level.

BLIP-2 encodes an image, lets a fixed number of learned queries read it through a Q-Former, and
projects them into the language model's embeddings, where they take the place of as many
``image_token_id`` placeholders; so far the common pattern. Its layout is not: the vision model,
the Q-Former, the projection and the language model (with its LM head) sit at the top level of the
transformers model, with no ``model.model``, and its own forward returns logits, with the final
hidden states among the language model's outputs. This class reads them there.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from robovlms.errors import PluginError, first_line
from robovlms.model.backbone import BaseRoboVLM


class QFormerBackbone(BaseRoboVLM):
    """A ``tokens``-fusion backbone over BLIP-2's layout (``vision_model``, ``qformer``, ``language_model``)."""

    @property
    def text_tower(self) -> nn.Module:
        """The decoder-only language model without its LM head; an encoder-decoder one (Flan-T5) is no text tower."""
        if not getattr(self.model.config, "use_decoder_only_language_model", True):
            raise NotImplementedError(
                f"{type(self.model).__name__}'s language model is an encoder-decoder; robovlms runs a decoder-only "
                "one over inputs_embeds, so define text_tower and forward_text for it"
            )
        return self.model.language_model.base_model

    @property
    def vision_tower(self) -> nn.Module:
        return self.model.vision_model

    def model_encode_images(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """The Q-Former's query outputs, projected to the language model's width."""
        return self.model.get_image_features(pixel_values=pixel_values).pooler_output

    def reference_forward(
        self, pixel_values: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> torch.Tensor:
        """The language model's final hidden states from the VLM's own forward."""
        inputs = self.reference_inputs(pixel_values, input_ids, attention_mask)
        try:
            out = self.model(**inputs, output_hidden_states=True)
        except Exception as exc:  # whatever the VLM raises for inputs it does not take
            raise PluginError(
                f"backbone {self.name!r}: {type(self.model).__name__}'s own forward failed "
                f"({first_line(exc, with_type=True)}); override reference_inputs"
            ) from None
        hidden: Any = out.language_model_outputs.hidden_states
        return hidden[-1]
