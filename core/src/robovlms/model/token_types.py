"""Backbones whose VLM reads ``token_type_ids`` to choose which positions attend bidirectionally.

Some VLMs are not causal over their whole prompt, and their processors say where with
``token_type_ids``, in one of two senses. PaliGemma's are the prefix-LM's: 0 marks the prefix
(image tokens, instruction, padding), which attends bidirectionally, 1 the suffix, which attends
causally. Gemma 3's are the image blocks': 1 marks image tokens, each image's block attends
bidirectionally within itself, everything else causally. That is what the checkpoints were trained
with, so it is not a choice: a backbone sets ``token_types`` to the sense its VLM reads, and the
core derives the ids from what ``forward_text`` is told (``prefix_mask``, ``image_index``), the same
way the VLM's processor derives them from a prompt. Gemma 3 groups image tokens into blocks by
contiguity, so two cameras' images that touch in the prompt form one block: a prompt that keeps
them apart (Gemma 3's processor puts start and end markers around each image) keeps them apart.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import torch

from robovlms.model.backbone import BaseRoboVLM

#: ``prefix``: 0 is the bidirectional prefix (PaliGemma); ``image``: 1 marks bidirectional image blocks (Gemma 3)
TokenTypes = Literal["prefix", "image"]


class TokenTypeBackbone(BaseRoboVLM):
    """A ``tokens``-fusion backbone whose VLM (``model.model``) takes ``token_type_ids`` for its attention."""

    token_types: ClassVar[TokenTypes] = "prefix"

    def token_type_ids(
        self, attention_mask: torch.Tensor, prefix_mask: torch.Tensor | None, image_index: torch.Tensor | None
    ) -> torch.Tensor:
        """The ids the VLM's processor would give this sequence; padding counts as prefix, as it does there.

        Without ``prefix_mask`` the whole sequence is a prompt (all prefix); without ``image_index`` the
        image blocks are unknown, and the sequence attends causally.
        """
        if self.token_types == "image":
            if image_index is None:
                return torch.zeros_like(attention_mask)
            return image_index.ge(0).to(attention_mask.dtype)
        if prefix_mask is None:
            return torch.zeros_like(attention_mask)
        return attention_mask * ~prefix_mask.bool()

    def forward_text(
        self,
        inputs_embeds: torch.Tensor,
        attention_mask: torch.Tensor,
        *,
        prefix_mask: torch.Tensor | None = None,
        image_index: torch.Tensor | None = None,
        **_: Any,
    ) -> torch.Tensor:
        """The VLM's own model turns ``token_type_ids`` into its mask (and counts positions its way); given
        embeddings and no pixels, it runs just the language model with them."""
        token_type_ids = self.token_type_ids(attention_mask, prefix_mask, image_index)
        return self.token_type_model(
            inputs_embeds=inputs_embeds, attention_mask=attention_mask, token_type_ids=token_type_ids, use_cache=False
        ).last_hidden_state

    @property
    def token_type_model(self) -> Any:
        """The model that takes ``token_type_ids`` and makes its mask of them: the VLM's ``model.model``."""
        return self.model.model

    def reference_inputs(
        self, pixel_values: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> dict[str, Any]:
        """A prompt's ids as the processor makes them: all prefix, or 1 at the image placeholders."""
        inputs = super().reference_inputs(pixel_values, input_ids, attention_mask)
        if self.token_types == "image":
            token_type_ids = self.image_slots(input_ids).to(input_ids.dtype)
        else:
            token_type_ids = torch.zeros_like(input_ids)
        return {**inputs, "token_type_ids": token_type_ids, "use_cache": False}
