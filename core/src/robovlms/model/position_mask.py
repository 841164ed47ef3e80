"""Kosmos-2-style backbones: image tokens at the positions of a mask, not at the positions of an id.

Kosmos-2's forward takes ``image_embeds_position_mask`` and writes the resampled image tokens there,
whatever ids those positions hold; its parts sit at the model's top level (``vision_model``,
``image_to_text_projection``, ``text_model`` with its LM head), its text positions count valid tokens
only (left padding must not shift them), and its forward returns logits. This class covers all of
that once: the placeholders' positions (:meth:`image_slots`) are the mask, and a backbone decides only
which ids mark them (the presets: one placeholder id; Kosmos-2's processor: ids of their own, see the
first-party ``robovlms-kosmos2``).
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from robovlms.model.backbone import BaseRoboVLM
from robovlms.model.capture import final_states


class PositionMaskBackbone(BaseRoboVLM):
    """A ``tokens``-fusion backbone over Kosmos-2's layout, its image positions given as a mask."""

    @property
    def text_tower(self) -> nn.Module:
        return self.model.text_model.model

    @property
    def vision_tower(self) -> nn.Module:
        return self.model.vision_model

    def model_encode_images(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """The resampled, projected image tokens (``latent_query_num`` of them)."""
        return self.model.get_image_features(pixel_values=pixel_values).pooler_output

    #: whether the text model adds a segment embedding at the image positions (Kosmos-2.5's ``segment_emb``),
    #: which it finds by ``image_embeds_position_mask``
    segments: ClassVar[bool] = False

    def forward_text(
        self,
        inputs_embeds: torch.Tensor,
        attention_mask: torch.Tensor,
        *,
        image_index: torch.Tensor | None = None,
        **_: Any,
    ) -> torch.Tensor:
        """Positions count valid tokens from ``pad_token_id + 1``, as the VLM counts them from its input ids."""
        mask = attention_mask.long()
        positions = mask.cumsum(dim=1) * mask + self.model.config.text_config.pad_token_id
        extra = {}
        if self.segments and image_index is not None:
            extra["image_embeds_position_mask"] = (image_index >= 0).long()
        return self.text_tower(
            inputs_embeds=inputs_embeds, attention_mask=attention_mask, position_ids=positions, use_cache=False, **extra
        ).last_hidden_state

    def reference_inputs(
        self, pixel_values: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> dict[str, Any]:
        """The VLM's own inputs: the placeholders' positions as its ``image_embeds_position_mask``."""
        inputs = super().reference_inputs(pixel_values, input_ids, attention_mask)
        return {**inputs, "image_embeds_position_mask": self.image_slots(input_ids).long(), "use_cache": False}

    def reference_forward(
        self, pixel_values: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> torch.Tensor:
        """The VLM's own forward returns logits: its text decoder's final states are read on the way."""
        inputs = self.reference_inputs(pixel_values, input_ids, attention_mask)
        return final_states(self.text_tower, lambda: self.model(**inputs))
