"""Backbones over a VLM with no vision encoder: each image patch is projected linearly into the text (Fuyu).

Fuyu cuts the image into ``patch_size`` squares, flattens each (rows, columns, then channels), and one
linear layer (``model.model.vision_embed_tokens``, the ``vision_tower``) maps it to the language model's
width, at an ``image_token_id`` placeholder per patch. Its ``get_image_features`` takes those flattened
patches, not pixels: robovlms cuts them as Fuyu's processor does (its ``patchify_image``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from robovlms.model.backbone import BaseRoboVLM
from robovlms.model.images import hwc_patches
from robovlms.model.presets import preset_settings


def patch_preset_settings(
    presets: Mapping[str, Mapping[str, Any]], preset: str, image_size: int | None
) -> dict[str, Any]:
    """:func:`~robovlms.model.presets.preset_settings` for a config that keeps ``image_size`` and ``patch_size``
    at its top level (no vision config to hold them); kept by name, as generated plugins import it."""
    return preset_settings(presets, preset, image_size, vision="")


class LinearPatchBackbone(BaseRoboVLM):
    """A ``tokens``-fusion backbone whose image tokens are linear projections of the image's patches."""

    @property
    def vision_tower(self) -> nn.Module:
        """The linear projection of flattened patches: all the vision the VLM has."""
        module: nn.Module = self.model.model.vision_embed_tokens
        return module

    def patchify(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` to ``(B, patches, patch * patch * 3)``, row by row, each patch rows, columns, channels."""
        return hwc_patches(pixel_values, int(self.model.config.patch_size))

    def model_encode_images(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """The projected patches, as the VLM's forward places them."""
        out = self.model.model.get_image_features(pixel_values=self.patchify(pixel_values))
        tokens: torch.Tensor = out.last_hidden_state
        return tokens

    def reference_inputs(
        self, pixel_values: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> dict[str, Any]:
        """The VLM's forward takes the flattened patches as ``pixel_values``."""
        return {
            **super().reference_inputs(pixel_values, input_ids, attention_mask),
            "pixel_values": self.patchify(pixel_values),
        }
