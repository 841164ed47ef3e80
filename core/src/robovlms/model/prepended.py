"""Backbones over a VLM that puts the image states in front of the text, with no placeholders of its own (GIT).

GIT's forward embeds the text alone (word and position embeddings, the positions counted over the
text, then its embeddings' LayerNorm), prepends the projected image states untouched, and runs one
encoder under a mask where the image tokens attend each other both ways and the text attends them
and itself causally. robovlms assembles sequences with image tokens at placeholders, so the prompt
puts the placeholders first; ``forward_text`` then gives only the text positions (prompt, action
tokens) GIT's position embeddings and LayerNorm, counting positions over them, and runs the encoder
with each image's block bidirectional. Later frames' images (the interleaved history) are blocks of
their own in the same way.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from robovlms.config import VLMConfig
from robovlms.errors import PluginError
from robovlms.model.backbone import BaseRoboVLM
from robovlms.model.sequence import NO_IMAGE


class PrependedImageBackbone(BaseRoboVLM):
    """A ``tokens``-fusion backbone over ``model.base_model`` with ``embeddings``, ``image_encoder``,
    ``visual_projection`` and ``encoder`` (GIT's ``GitModel``)."""

    def __init__(self, model: nn.Module, tokenizer: Any, processor: Any, config: VLMConfig) -> None:
        super().__init__(model, tokenizer, processor, config)
        # counted by the VLM itself (a class token besides the patches), whatever the checkpoint's resolution
        size = self.image_processor.size
        probe = torch.ones(1, 3, size, size, device=self.word_embedding.weight.device)
        with torch.no_grad():
            self.num_image_tokens = self.encode_images(probe).shape[1]

    @property
    def text_tower(self) -> nn.Module:
        """The whole ``GitModel``: its text decoder has no module of its own beside the image encoder."""
        module: nn.Module = self.model.base_model
        return module

    @property
    def vision_tower(self) -> nn.Module:
        module: nn.Module = self.model.base_model.image_encoder
        return module

    @property
    def hidden_size(self) -> int:
        return int(self.model.config.hidden_size)

    @property
    def image_token_id(self) -> int | None:
        """robovlms's own placeholder: the config's ``image_token_id`` (the presets set one), else the
        tokenizer's mask token (a BERT vocabulary's ``[MASK]``, which the VLM's captions never hold)."""
        token = getattr(self.model.config, "image_token_id", None)
        return token if isinstance(token, int) else getattr(self.tokenizer, "mask_token_id", None)

    def prompt(self, instruction: str) -> str:
        """The image's placeholders first, then the text as the VLM's processor starts it (``[CLS]`` or BOS)."""
        if self.image_token_id is None:
            raise PluginError(
                f"backbone {self.name!r}: no placeholder for the image tokens; set image_token_id in the config"
            )
        image = self.tokenizer.convert_ids_to_tokens(self.image_token_id) * self.num_image_tokens
        start = getattr(self.tokenizer, "cls_token", None) or self.tokenizer.bos_token or ""
        return f"{image}{start}{instruction}"

    def model_encode_images(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """The image encoder's states through ``visual_projection``, as the VLM's forward prepends them."""
        git: Any = self.text_tower  # GitModel: its parts by name
        states = git.image_encoder(pixel_values).last_hidden_state
        tokens: torch.Tensor = git.visual_projection(states)
        return tokens

    def forward_text(
        self,
        inputs_embeds: torch.Tensor,
        attention_mask: torch.Tensor,
        *,
        image_tokens: torch.Tensor | None = None,
        image_attention_mask: torch.Tensor | None = None,
        prefix_mask: torch.Tensor | None = None,
        image_index: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The encoder over the sequence: text positions get the position embeddings (counted over text alone)
        and the embeddings' LayerNorm, image positions stay as projected; each image attends itself both ways."""
        from transformers.masking_utils import create_causal_mask

        git: Any = self.text_tower  # GitModel: its parts by name
        if image_index is None:
            image_index = torch.full(inputs_embeds.shape[:2], NO_IMAGE, device=inputs_embeds.device)
        text = image_index.eq(NO_IMAGE)
        positions = (text.long().cumsum(dim=1) - 1).clamp(min=0)
        embeddings = git.embeddings
        embedded = embeddings.dropout(embeddings.LayerNorm(inputs_embeds + embeddings.position_embeddings(positions)))
        hidden = torch.where(text.unsqueeze(-1), embedded, inputs_embeds)
        mask = create_causal_mask(
            config=git.config.get_text_config(),
            inputs_embeds=hidden,
            attention_mask=attention_mask,
            cache=None,
            position_ids=None,
            block_sequence_ids=torch.where(text, NO_IMAGE, image_index),
        )
        states: torch.Tensor = git.encoder(hidden, attention_mask=mask, use_cache=False).last_hidden_state
        return states

    def reference_inputs(
        self, pixel_values: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> dict[str, Any]:
        """The VLM's forward takes the text without placeholders: it prepends the image itself."""
        text = ~self.image_slots(input_ids)
        rows = len(input_ids)
        return {
            "input_ids": input_ids[text].view(rows, -1),
            "attention_mask": attention_mask[text].view(rows, -1),
            "pixel_values": pixel_values,
            "use_cache": False,
        }

    def reference_forward(
        self, pixel_values: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> torch.Tensor:
        """The VLM's own states, ``(B, N + text, D)`` with the image first, put back at the prompt's positions."""
        theirs = super().reference_forward(pixel_values, input_ids, attention_mask)
        slots = self.image_slots(input_ids)
        count = int(slots[0].sum())
        ours = theirs.new_zeros(*input_ids.shape, theirs.shape[-1])
        ours[slots] = theirs[:, :count].flatten(0, 1)
        ours[~slots] = theirs[:, count:].flatten(0, 1)
        return ours
