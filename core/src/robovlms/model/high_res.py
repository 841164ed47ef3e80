"""Backbones with a second, high-resolution vision encoder that reads the same frame again (DeepSeek-VL-Hybrid).

DeepSeek-VL-Hybrid encodes each image twice: SigLIP at a low resolution and a SAM encoder at a high
one (``high_res_pixel_values``, ``high_res_vision_config.image_size``, with a normalisation of its
own); its aligner joins the two per image token. robovlms's image processor hands the backbone one
copy of the frame, the low-resolution one the prompt's placeholders are counted for, so the
high-resolution copy is made from it here: un-normalised, resized to the second encoder's
resolution and normalised as that encoder expects. That copy holds no detail the low-resolution
frame lacks (the checkpoint's processor resizes it from the raw camera frame): a known limit.
"""

from __future__ import annotations

import torch
from torch import nn

from robovlms.model.backbone import BaseRoboVLM
from robovlms.model.images import per_channel


class HighResBackbone(BaseRoboVLM):
    """A ``tokens``-fusion backbone whose ``get_image_features`` also takes ``high_res_pixel_values``."""

    def high_res_pixels(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """The frames ``(B, 3, S, S)`` again, at the high-resolution encoder's size and normalisation."""
        side = int(self.model.config.high_res_vision_config.image_size)
        processor = getattr(self.transformers_processor, "image_processor", self.transformers_processor)
        low = self.image_processor
        raw = pixel_values * per_channel(low.std, pixel_values) + per_channel(low.mean, pixel_values)
        resized = nn.functional.interpolate(raw.float(), size=(side, side), mode="bicubic", align_corners=False)
        mean = getattr(processor, "high_res_image_mean", None) or low.mean
        std = getattr(processor, "high_res_image_std", None) or low.std
        high = (resized.clamp(0, 1) - per_channel(mean, resized)) / per_channel(std, resized)
        return high.to(pixel_values.dtype)
