"""BLIP-style backbones: a text decoder that cross-attends the vision encoder's states.

BLIP's captioner puts no image tokens into the sequence: its BERT-style text decoder
(``text_decoder.bert``, with its embeddings' own positions) reads the vision model's patch states
through cross-attention layers as ``encoder_hidden_states``, and its own forward returns logits.
That is ``cross_attention`` fusion as the core hands it over: ``forward_text`` receives each
sequence's images ``(B, I, N, D)`` and which positions see which (``(B, L, I)``), which become the
decoder's encoder states and a per-position mask over them.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from robovlms.model.backbone import BaseRoboVLM, Fusion
from robovlms.model.capture import final_states


class EncoderStatesBackbone(BaseRoboVLM):
    """A ``cross_attention`` backbone over BLIP's layout (``vision_model``, ``text_decoder.bert``)."""

    fusion: ClassVar[Fusion] = "cross_attention"
    #: what the text decoder needs told to cross-attend (BLIP's BERT is an encoder unless told)
    decoder_flags: ClassVar[dict[str, Any]] = {"is_decoder": True}

    @property
    def text_tower(self) -> nn.Module:
        return self.model.text_decoder.bert

    @property
    def vision_tower(self) -> nn.Module:
        return self.model.vision_model

    @property
    def image_token_id(self) -> None:
        """Images enter through cross-attention: the prompt holds no placeholders."""
        return None

    def model_encode_images(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """The vision model's final states, every patch and the class token, as the decoder reads them."""
        return self.vision_tower(pixel_values=pixel_values).last_hidden_state

    def forward_text(
        self,
        inputs_embeds: torch.Tensor,
        attention_mask: torch.Tensor,
        *,
        image_tokens: torch.Tensor | None = None,
        image_attention_mask: torch.Tensor | None = None,
        **_: Any,
    ) -> torch.Tensor:
        """The images side by side as encoder states; each position attends the tokens of the images it sees
        (an additive ``(B, 1, L, I * N)`` mask, which transformers passes to the attention as it is)."""
        states = mask = None
        if image_tokens is not None:
            states = image_tokens.flatten(1, 2)
            if image_attention_mask is not None:
                sees = image_attention_mask.bool().repeat_interleave(image_tokens.shape[2], dim=-1)[:, None]
                mask = torch.zeros(sees.shape, dtype=inputs_embeds.dtype, device=inputs_embeds.device)
                mask = mask.masked_fill(~sees, torch.finfo(inputs_embeds.dtype).min)
        return self.decoder_states(
            self.text_tower(
                inputs_embeds=inputs_embeds,
                attention_mask=attention_mask,
                encoder_hidden_states=states,
                encoder_attention_mask=mask,
                use_cache=False,
                **self.decoder_flags,
            )
        )

    def decoder_states(self, output: Any) -> torch.Tensor:
        """The final states in the text decoder's output (a decoder with an LM head inside keeps them elsewhere)."""
        return output.last_hidden_state

    def reference_forward(
        self, pixel_values: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> torch.Tensor:
        """The VLM's own forward returns logits: its text decoder's final states are read on the way."""
        inputs = self.reference_inputs(pixel_values, input_ids, attention_mask)
        return final_states(self.text_tower, lambda: self.model(**inputs))
