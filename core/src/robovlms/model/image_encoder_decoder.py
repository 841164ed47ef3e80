"""Encoder-decoders whose encoder reads only the image: the decoder is the fusion module.

PP-FormulaNet, Pix2Struct and transformers' ``VisionEncoderDecoderModel`` encode the image alone; the
text enters only the decoder (``decoder_input_ids``), which reads the encoder's states through
cross-attention as ``encoder_hidden_states``. That is BLIP's layout under other names, so the path of
:class:`~robovlms.model.encoder_states.EncoderStatesBackbone` runs unchanged; what differs is where the
parts sit, which encoder output the decoder reads, and how the VLM's own forward takes the prompt.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from robovlms.model.backbone import set_checkpointing
from robovlms.model.capture import final_states
from robovlms.model.encoder_states import EncoderStatesBackbone


class ImageEncoderDecoderBackbone(EncoderStatesBackbone):
    """A ``cross_attention`` backbone over ``encoder`` (the image) and ``decoder`` (the text) of an
    encoder-decoder, at the model's top level or under ``model``."""

    #: the encoder output the VLM's decoder cross-attends: ``last_hidden_state``, or ``pooler_output``
    #: where the encoder projects its states to the decoder's width (PP-FormulaNet)
    encoder_output: ClassVar[str] = "last_hidden_state"
    #: the decoders of these classes take no ``is_decoder`` flag: they are decoders only
    decoder_flags: ClassVar[dict[str, Any]] = {}

    @property
    def _parts(self) -> Any:
        """The module that holds ``encoder`` and ``decoder`` (Any: each class names its own parts)."""
        inner = getattr(self.model, "model", None)
        return inner if isinstance(inner, nn.Module) and hasattr(inner, "decoder") else self.model

    @property
    def text_tower(self) -> nn.Module:
        """The decoder without its LM head (``base_model`` of a causal LM decoder, BERT's or GPT-2's)."""
        decoder: nn.Module = self._parts.decoder
        tower: nn.Module = getattr(decoder, "base_model", decoder)
        return tower

    @property
    def vision_tower(self) -> nn.Module:
        encoder: nn.Module = self._parts.encoder
        return encoder

    @property
    def word_embedding(self) -> nn.Embedding:
        """The decoder's: the model's own ``get_input_embeddings`` may be the encoder's patch embedding."""
        tower: Any = self.text_tower
        embedding: nn.Embedding = tower.get_input_embeddings()
        return embedding

    @property
    def hidden_size(self) -> int:
        return int(self.word_embedding.embedding_dim)

    def model_encode_images(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """The encoder's states as the decoder reads them, through the model's ``enc_to_dec_proj`` where it has
        one (``VisionEncoderDecoderModel`` between towers of different widths)."""
        states = getattr(self.vision_tower(pixel_values=pixel_values), self.encoder_output)
        project = getattr(self.model, "enc_to_dec_proj", None)
        return project(states) if isinstance(project, nn.Module) else states

    def reference_inputs(
        self, pixel_values: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> dict[str, Any]:
        """The prompt is the decoder's input: it enters the VLM's own forward as ``decoder_input_ids``."""
        return {"pixel_values": pixel_values, "decoder_input_ids": input_ids, "decoder_attention_mask": attention_mask}

    def reference_forward(
        self, pixel_values: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> torch.Tensor:
        """The decoder's final states, read on the way through the VLM's own forward (which may return logits)."""
        inputs = self.reference_inputs(pixel_values, input_ids, attention_mask)
        return final_states(self.text_tower, lambda: self.model(**inputs, use_cache=False))

    def _set_checkpointing(self, on: bool) -> None:
        """Pix2Struct's whole model declines activation checkpointing while its encoder and decoder take it: where
        the whole declines, each part is switched on its own."""
        if getattr(self.model, "supports_gradient_checkpointing", False):
            super()._set_checkpointing(on)
            return
        for part in (self.vision_tower, self._parts.decoder):
            set_checkpointing(part, on)
