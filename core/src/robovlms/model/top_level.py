"""Backbones over a VLM that keeps its parts at its top level, with no ``model.model`` (Llama 4).

Llama 4 holds ``vision_model``, ``multi_modal_projector`` and ``language_model`` (a causal LM with
its head) side by side on the outer model. Its ``get_image_features`` returns the vision model's
states before the projector, which its forward applies to them on the way into the placeholders,
and its forward returns logits: the language model's final states are read on the way.
"""

from __future__ import annotations

import torch
from torch import nn

from robovlms.model.backbone import BaseRoboVLM
from robovlms.model.capture import final_states


class TopLevelBackbone(BaseRoboVLM):
    """A ``tokens``-fusion backbone over ``vision_model``, ``multi_modal_projector`` and ``language_model``."""

    @property
    def text_tower(self) -> nn.Module:
        """The language model without its LM head."""
        return self.model.language_model.model

    @property
    def vision_tower(self) -> nn.Module:
        return self.model.vision_model

    def model_encode_images(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """The vision states, projected as the VLM's forward projects them, one row of tokens per image."""
        states = self.model.get_image_features(pixel_values=pixel_values).last_hidden_state
        return self.model.multi_modal_projector(states.flatten(0, -3)).reshape(len(pixel_values), -1, self.hidden_size)

    def reference_forward(
        self, pixel_values: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> torch.Tensor:
        """The VLM's own forward returns logits: the language model's final states are read on the way.

        Llama 4's forward in transformers 5 then fails building its output (it reads ``image_outputs``, which
        its language model's output lacks); the states it computed before are what is compared.
        """
        inputs = self.reference_inputs(pixel_values, input_ids, attention_mask)
        return final_states(self.text_tower, lambda: self.model(**inputs), after=(AttributeError,))
