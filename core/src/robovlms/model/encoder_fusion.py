"""Encoder-decoder VLMs whose encoder reads the image and the text together (Florence-2).

Florence-2 puts its image tokens at ``image_token_id`` placeholders among the prompt's embeddings,
as decoder-only VLMs do, but into the encoder of an encoder-decoder language model (BART), whose
decoder then writes the answer. The multimodal encoder is the fusion module robovlms runs over
``inputs_embeds``: image tokens, the instruction and the action tokens, attending each other both ways.
Its final states are the VLM's ``encoder_last_hidden_state``, which the fidelity test compares.
"""

from __future__ import annotations

import torch
from torch import nn

from robovlms.errors import PluginError, first_line
from robovlms.model.backbone import BaseRoboVLM


class EncoderFusionBackbone(BaseRoboVLM):
    """A ``tokens``-fusion backbone over an encoder-decoder VLM's multimodal encoder."""

    @property
    def text_tower(self) -> nn.Module:
        """The encoder that reads the image tokens and the text (the decoder only writes the answer)."""
        return self.model.get_encoder()

    @property
    def vision_tower(self) -> nn.Module:
        """``model.model.vision_tower``, or the multimodal encoder's own where it holds one (T5Gemma 2)."""
        inner = getattr(getattr(self.model, "model", None), "vision_tower", None)
        tower = inner if isinstance(inner, nn.Module) else getattr(self.model.get_encoder(), "vision_tower", None)
        if not isinstance(tower, nn.Module):
            raise NotImplementedError(
                f"{type(self).__name__} must define vision_tower: {type(self.model).__name__} "
                "has neither model.vision_tower nor an encoder's vision_tower"
            )
        return tower

    def model_encode_images(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """The VLM's own path from pixels to image tokens: ``model.model``'s, or the encoder's where the encoder
        holds the vision tower (T5Gemma 2)."""
        inner = self.model.model
        source = inner if callable(getattr(inner, "get_image_features", None)) else self.model.get_encoder()
        features = source.get_image_features(pixel_values=pixel_values)
        features = getattr(features, "pooler_output", features)
        return torch.stack(features) if isinstance(features, (list, tuple)) else features

    def reference_forward(
        self, pixel_values: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> torch.Tensor:
        """The encoder's final states from the VLM's own forward, given one start token to decode from."""
        inputs = self.reference_inputs(pixel_values, input_ids, attention_mask)
        try:
            out = self.model(**inputs, decoder_input_ids=input_ids[:, :1], use_cache=False)
        except Exception as exc:  # whatever the VLM raises for inputs it does not take
            raise PluginError(
                f"backbone {self.name!r}: {type(self.model).__name__}'s own forward failed "
                f"({first_line(exc, with_type=True)}); override reference_inputs"
            ) from None
        hidden: torch.Tensor = out.encoder_last_hidden_state
        return hidden
