"""Pix2Struct's image format: each image's patches flattened, each with its row and column number.

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
from torch import nn

from robovlms.model.image_encoder_decoder import ImageEncoderDecoderBackbone


def flatten_patches(pixel_values: torch.Tensor, patch: int) -> torch.Tensor:
    """``(B, 3, H, W)`` frames as Pix2Struct's ``flattened_patches``, every patch real (no padding)."""
    batch, channels, height, width = pixel_values.shape
    rows, columns = height // patch, width // patch
    patches = nn.functional.unfold(pixel_values, (patch, patch), stride=(patch, patch))
    patches = patches.reshape(batch, channels, patch, patch, -1).permute(0, 4, 2, 3, 1)
    patches = patches.reshape(batch, rows * columns, channels * patch * patch)
    grid = torch.cartesian_prod(torch.arange(rows), torch.arange(columns)).to(patches) + 1
    return torch.cat([grid.expand(batch, -1, -1), patches], dim=-1)


class FlattenedPatchesBackbone(ImageEncoderDecoderBackbone):
    """Pix2Struct: an image-only encoder over flattened patches, and a decoder that keeps its LM head inside."""

    #: Pix2Struct's decoder returns logits; its final states are the last of its hidden states
    decoder_flags: ClassVar[dict[str, Any]] = {"output_hidden_states": True}

    @property
    def patch_size(self) -> int:
        """The patch side, from the encoder's input width ``3 * p * p``."""
        return math.isqrt(self.model.config.vision_config.patch_embed_hidden_size // 3)

    def flattened(self, pixel_values: torch.Tensor) -> dict[str, torch.Tensor]:
        """The encoder's inputs: the patches, and a mask that holds every one (the frames are not padded)."""
        patches = flatten_patches(pixel_values, self.patch_size)
        return {"flattened_patches": patches, "attention_mask": patches.new_ones(patches.shape[:2])}

    def model_encode_images(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.vision_tower(**self.flattened(pixel_values)).last_hidden_state

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
