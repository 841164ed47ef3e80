"""Backbones over a VLM whose encoder takes each image as patches with their positions (Gemma 4).

Gemma 4's encoder reads ``pixel_values`` ``(B, P, 3 * p * p)`` beside ``image_position_ids``
``(B, P, 2)``, each patch's ``(x, y)``: its processor resizes an image keeping its aspect ratio to a
budget of tokens, cuts it into patches (rows of patches, each patch its rows, columns, channels) and
pads. robovlms hands backbones ``(B, 3, S, S)`` frames of one size, so the patches and their positions
are the same for every frame and are cut here, as that processor cuts them; no padding is needed.

Its language model also reads per-layer inputs (``hidden_size_per_layer_input``) looked up from the
token ids, with the pad id at image positions. ``forward_text`` gets embeddings, not ids; the ids of
the text positions are the word-embedding rows their embeddings are (the reversal Gemma 4's own
``get_per_layer_inputs`` does when given embeddings alone), and every other position (image tokens,
robovlms's action tokens) takes the pad id, as the VLM's forward gives its image and audio tokens.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from robovlms.errors import ConfigError
from robovlms.model.backbone import BaseRoboVLM
from robovlms.model.images import hwc_patches

#: text positions compared with the vocabulary at a time (a real vocabulary is 262k rows wide)
_CHUNK = 64
#: the rows nearest in direction checked for an exact match, per position
_CANDIDATES = 4


def positioned_patches(pixel_values: torch.Tensor, patch: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(B, 3, H, W)`` frames as ``(B, P, p * p * 3)`` patches, row by row, and their ``(x, y)`` ``(B, P, 2)``."""
    batch, _, height, width = pixel_values.shape
    rows, columns = height // patch, width // patch
    patches = hwc_patches(pixel_values, patch)
    y, x = torch.meshgrid(torch.arange(rows), torch.arange(columns), indexing="ij")
    positions = torch.stack([x, y], dim=-1).reshape(1, rows * columns, 2).to(pixel_values.device)
    return patches, positions.expand(batch, -1, -1)


class PositionedPatchBackbone(BaseRoboVLM):
    """A ``tokens``-fusion backbone whose encoder takes positioned patches and whose language model reads
    per-layer inputs from the token ids (Gemma 4's ``model.model``)."""

    @property
    def vision_tower(self) -> nn.Module:
        """Gemma 4's encoder, or Gemma 4 Unified's, which embeds the merged patches itself (``embed_vision``)."""
        inner = self.model.model
        tower: nn.Module = (
            inner.vision_tower if getattr(inner, "vision_tower", None) is not None else inner.embed_vision
        )
        return tower

    def patches(self, pixel_values: torch.Tensor) -> dict[str, torch.Tensor]:
        """The encoder's inputs for square frames, as the VLM's processor lays them out."""
        vision = self.model.config.vision_config
        patch = int(vision.patch_size)
        unit = patch * int(vision.pooling_kernel_size)
        if pixel_values.shape[-1] % unit or pixel_values.shape[-2] % unit:
            raise ConfigError(
                f"backbone {self.name!r}: frames of {tuple(pixel_values.shape[-2:])} pixels; expected sides that are "
                f"multiples of {unit} (patch_size {patch} x pooling_kernel_size {vision.pooling_kernel_size})"
            )
        # Gemma 4 Unified's processor merges k x k patches into one of model_patch_size, which its encoder takes
        patches, positions = positioned_patches(pixel_values, int(getattr(vision, "model_patch_size", patch)))
        return {"pixel_values": patches, "image_position_ids": positions}

    def model_encode_images(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """The pooled, projected image tokens (the VLM returns them per image; every frame has as many)."""
        out = self.model.model.get_image_features(**self.patches(pixel_values))
        return torch.stack(list(out.pooler_output))

    def prompt_ids(self, inputs_embeds: torch.Tensor, image_index: torch.Tensor | None) -> torch.Tensor:
        """The ids whose word embeddings the positions hold; the pad id at images and at positions that hold
        none (action tokens).

        The rows nearest in direction are only candidates (a few, in the weights' own precision, so that a
        262k-row vocabulary is never copied); a position takes the one whose embedding it equals exactly. Image
        positions take the pad id whatever they hold, so only the others are searched."""
        embedding = self.word_embedding
        pad = int(self.model.config.get_text_config().pad_token_id)
        weight = embedding.weight.detach()
        norms = torch.linalg.vector_norm(weight, dim=-1, dtype=torch.float32).clamp_min(1e-12)
        ids = torch.full(inputs_embeds.shape[:2], pad, dtype=torch.long, device=inputs_embeds.device)
        searched = ids.new_ones(ids.shape, dtype=torch.bool) if image_index is None else image_index.lt(0)
        flat, where = inputs_embeds.detach()[searched], searched.flatten().nonzero()[:, 0]
        for part, at in zip(flat.split(_CHUNK), where.split(_CHUNK), strict=True):
            scores = (part.to(weight.dtype) @ weight.T).float() / norms
            candidates = scores.topk(min(_CANDIDATES, scores.shape[-1]), dim=-1).indices
            exact = embedding(candidates).to(part.dtype).eq(part[:, None]).all(-1)
            chosen = candidates.gather(1, exact.int().argmax(-1, keepdim=True))[:, 0]
            ids.view(-1)[at] = chosen.masked_fill(~exact.any(-1), pad)
        return ids

    def forward_text(
        self,
        inputs_embeds: torch.Tensor,
        attention_mask: torch.Tensor,
        *,
        image_index: torch.Tensor | None = None,
        **_: Any,
    ) -> torch.Tensor:
        """The VLM's own model over embeddings, with the per-layer inputs of the prompt's ids and its image
        positions as ``mm_token_type_ids`` (a checkpoint whose images attend both ways reads them)."""
        language_model = self.model.model.language_model
        per_layer = {}  # Gemma 4 Unified's language model reads none
        if getattr(language_model, "hidden_size_per_layer_input", None):
            ids = self.prompt_ids(inputs_embeds, image_index)
            per_layer["per_layer_inputs"] = language_model.get_per_layer_inputs(ids)
        types = torch.zeros_like(attention_mask) if image_index is None else image_index.ge(0).long()
        return self.model.model(
            inputs_embeds=inputs_embeds,
            attention_mask=attention_mask,
            mm_token_type_ids=types,
            use_cache=False,
            **per_layer,
        ).last_hidden_state

    def reference_inputs(
        self, pixel_values: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> dict[str, Any]:
        """The VLM's forward takes the patches and their positions, and the processor's ``mm_token_type_ids``."""
        return {
            **super().reference_inputs(pixel_values, input_ids, attention_mask),
            **self.patches(pixel_values),
            "mm_token_type_ids": self.image_slots(input_ids).long(),
            "use_cache": False,
        }
