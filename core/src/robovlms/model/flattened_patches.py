"""Pix2Struct's image format (Pix2Struct's, Kosmos-2.5's): each image's patches flattened, with row and column.

Pix2Struct's encoder reads ``flattened_patches`` ``(B, P, 2 + p * p * 3)``: per patch its row and
column (from 1; a zero row marks padding) and its pixels, in the order its processor's
``torch_extract_patches`` lays them out. robovlms hands backbones ``(B, 3, H, W)`` frames, so the
flattening happens here, on the frame as the image processor left it; the patch side follows from the
encoder's input width (``patch_embed_hidden_size = 3 * p * p``), which every checkpoint's config holds.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch

from robovlms.model.image_encoder_decoder import ImageEncoderDecoderBackbone
from robovlms.model.images import hwc_patches
from robovlms.model.position_mask import PositionMaskBackbone


def flatten_patches(pixel_values: torch.Tensor, patch: int) -> torch.Tensor:
    """``(B, 3, H, W)`` frames as Pix2Struct's ``flattened_patches``, every patch real (no padding)."""
    batch, _, height, width = pixel_values.shape
    patches = hwc_patches(pixel_values, patch)
    grid = torch.cartesian_prod(torch.arange(height // patch), torch.arange(width // patch)).to(patches) + 1
    return torch.cat([grid.expand(batch, -1, -1), patches], dim=-1)


class Flattening:
    """What both backbones below need: the patch side, from the encoder's input width ``3 * p * p``."""

    model: Any

    @property
    def patch_size(self) -> int:
        return math.isqrt(self.model.config.vision_config.patch_embed_hidden_size // 3)

    def flattened(self, pixel_values: torch.Tensor) -> dict[str, torch.Tensor]:
        """The encoder's inputs: the patches, and a mask that holds every one (the frames are not padded)."""
        patches = flatten_patches(pixel_values, self.patch_size)
        return {"flattened_patches": patches, "attention_mask": patches.new_ones(patches.shape[:2])}


class FlattenedPositionMaskBackbone(Flattening, PositionMaskBackbone):
    """Kosmos-2.5: Kosmos-2's layout and position mask over Pix2Struct's image format. Its own forward's
    ``attention_mask`` is the text's: the encoder finds its patches by their non-zero rows, as it does there."""

    segments = True

    def model_encode_images(self, pixel_values: torch.Tensor) -> torch.Tensor:
        patches = self.flattened(pixel_values)["flattened_patches"]
        return self.model.get_image_features(flattened_patches=patches).pooler_output

    def reference_inputs(
        self, pixel_values: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> dict[str, Any]:
        inputs = super().reference_inputs(pixel_values, input_ids, attention_mask)
        del inputs["pixel_values"]
        return {**inputs, "flattened_patches": self.flattened(pixel_values)["flattened_patches"]}


class FlattenedPatchesBackbone(Flattening, ImageEncoderDecoderBackbone):
    """Pix2Struct: an image-only encoder over flattened patches, and a decoder that keeps its LM head inside."""

    #: Pix2Struct's decoder returns logits; its final states are the last of its hidden states
    decoder_flags: ClassVar[dict[str, Any]] = {"output_hidden_states": True}

    def model_encode_images(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return getattr(self.vision_tower(**self.flattened(pixel_values)), self.encoder_output)

    def decoder_states(self, output: Any) -> torch.Tensor:
        return output.hidden_states[-1]

    def reference_inputs(
        self, pixel_values: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> dict[str, Any]:
        return {
            **self.flattened(pixel_values),
            "decoder_input_ids": input_ids,
            "decoder_attention_mask": attention_mask,
        }

    def reference_forward(
        self, pixel_values: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> torch.Tensor:
        """The last of the decoder's hidden states in the VLM's own forward (after its final layer norm)."""
        inputs = self.reference_inputs(pixel_values, input_ids, attention_mask)
        return self.model(**inputs, output_hidden_states=True, use_cache=False).decoder_hidden_states[-1]
