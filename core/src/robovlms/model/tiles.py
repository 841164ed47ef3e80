"""LLaVA-NeXT-style backbones: each image as its base view plus tiles at one of ``image_grid_pinpoints``.

LLaVA-NeXT, LLaVA-NeXT-Video, LLaVA-OneVision and Granite Vision pick, per image, the pinpoint
resolution that fits it best, cut the image resized to it into tiles of the encoder's size, and put
a downscaled base view in front; ``get_image_features`` takes the views with ``image_sizes`` and
packs their features (with a learned newline per row of tiles), so the number of image tokens
follows the tiling. robovlms feeds square frames of the encoder's size ``S``: when ``[S, S]`` is a
pinpoint, the best fit is the frame itself, the one tile and the base view are both the frame, and
the number of image tokens is fixed. The presets make it so; a checkpoint whose pinpoints lack
``[S, S]`` tiles a square frame into several resized tiles, which this class refuses to guess.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from robovlms.errors import PluginError
from robovlms.model.backbone import BaseRoboVLM
from robovlms.model.presets import side

if TYPE_CHECKING:
    from transformers import PretrainedConfig


class TiledBackbone(BaseRoboVLM):
    """A ``tokens``-fusion backbone whose VLM tiles each image at ``config.image_grid_pinpoints``."""

    @classmethod
    def preset_config(cls, preset: str, image_size: int | None) -> PretrainedConfig:
        """The preset's config with one pinpoint, the square frame itself: one tile and the base view."""
        config = cls.configuration.preset_config(preset, image_size)
        size = side(config.vision_config.image_size)
        config.image_grid_pinpoints = [[size, size]]
        return config

    def tiles(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """``(B, 3, S, S)`` frames as the VLM's views ``(B, 2, 3, S, S)``: the base view, then the one tile."""
        size = [int(pixel_values.shape[-2]), int(pixel_values.shape[-1])]
        pinpoints = [[int(v) for v in point] for point in self.model.config.image_grid_pinpoints]
        if size not in pinpoints:
            raise PluginError(
                f"backbone {self.name!r}: image_grid_pinpoints {pinpoints} has no {size}, so "
                f"{type(self.model).__name__} would cut a {size[0]}x{size[1]} frame into resized tiles; add {size} "
                "to the checkpoint's image_grid_pinpoints or override tiles() with its processor's tiling"
            )
        return torch.stack([pixel_values, pixel_values], dim=1)

    def image_inputs(self, pixel_values: torch.Tensor) -> dict[str, Any]:
        """The inputs of the VLM's image path: its views, and each image's size (the frame's)."""
        sizes = torch.tensor([list(pixel_values.shape[-2:])] * len(pixel_values), device=pixel_values.device)
        return {"pixel_values": self.tiles(pixel_values), "image_sizes": sizes}

    def model_encode_images(self, pixel_values: torch.Tensor) -> torch.Tensor:
        features = self.model.model.get_image_features(**self.image_inputs(pixel_values))
        features = getattr(features, "pooler_output", features)
        return torch.stack(list(features)) if isinstance(features, (list, tuple)) else features

    def reference_inputs(
        self, pixel_values: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> dict[str, Any]:
        return {**super().reference_inputs(pixel_values, input_ids, attention_mask), **self.image_inputs(pixel_values)}
