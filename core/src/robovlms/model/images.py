"""Camera frames to normalized pixels, in torch alone (torchvision is not required).

A backbone's ``image_processor`` is an :class:`ImageProcessor` configured with its checkpoint's
own size, mean and std, so frames from a robot look to the VLM as they did in pretraining.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from robovlms.errors import InputError


class ImageProcessor:
    """Resize (shortest edge, then optional center crop), rescale to [0, 1], normalize."""

    def __init__(
        self,
        size: int,
        mean: Sequence[float],
        std: Sequence[float],
        *,
        resample: str = "bicubic",
        center_crop: bool = False,
    ) -> None:
        if len(mean) != 3 or len(std) != 3:
            raise ValueError("image mean and std need three values, one per RGB channel")
        self.size = int(size)
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)
        self.resample = resample
        self.center_crop = center_crop

    def __repr__(self) -> str:
        crop = ", center_crop=True" if self.center_crop else ""
        return f"ImageProcessor(size={self.size}, mean={self.mean}, std={self.std}, resample={self.resample!r}{crop})"

    @classmethod
    def from_transformers(cls, processor: Any) -> ImageProcessor:
        """Read size, mean, std and resampling from a transformers (image) processor."""
        ip = getattr(processor, "image_processor", processor)
        crop = ip.crop_size if getattr(ip, "do_center_crop", False) else None
        size = crop or getattr(ip, "size", None) or {"height": ip.image_size}
        resample = str(getattr(getattr(ip, "resample", None), "name", "bicubic")).lower()
        return cls(
            size.get("height") or size["shortest_edge"],
            ip.image_mean,
            ip.image_std,
            resample="bilinear" if resample == "bilinear" else "bicubic",
            center_crop=crop is not None,
        )

    def __call__(self, frames: Any) -> torch.Tensor:
        """``(H, W, 3)`` or ``(B, H, W, 3)`` uint8 frames to a ``(B, 3, size, size)`` float tensor."""
        pixels = _as_uint8_batch(frames)
        x = pixels.permute(0, 3, 1, 2).float()
        h, w = x.shape[-2:]
        if self.center_crop:
            scale = self.size / min(h, w)
            new_hw = (max(self.size, int(h * scale)), max(self.size, int(w * scale)))  # as transformers
        else:
            new_hw = (self.size, self.size)
        if (h, w) != new_hw:
            x = F.interpolate(x, size=new_hw, mode=self.resample, align_corners=False, antialias=True)
        if self.center_crop:
            top, left = (new_hw[0] - self.size) // 2, (new_hw[1] - self.size) // 2
            x = x[..., top : top + self.size, left : left + self.size]
        x = x.clamp(0, 255) / 255.0
        mean = torch.tensor(self.mean, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        std = torch.tensor(self.std, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        return (x - mean) / std


def _as_uint8_batch(frames: Any) -> torch.Tensor:
    if isinstance(frames, np.ndarray):
        if frames.dtype != np.uint8:
            raise InputError(f"image: expected dtype uint8, got {frames.dtype}")
        tensor = torch.from_numpy(np.ascontiguousarray(frames))
    elif isinstance(frames, torch.Tensor):
        if frames.dtype != torch.uint8:
            raise InputError(f"image: expected dtype uint8, got {frames.dtype}")
        tensor = frames
    else:
        raise InputError(f"image: expected a uint8 numpy array or torch tensor, got {type(frames).__name__}")
    if tensor.ndim == 3:
        tensor = tensor.unsqueeze(0)
    if tensor.ndim != 4 or tensor.shape[-1] != 3 or tensor.shape[1] < 1 or tensor.shape[2] < 1:
        raise InputError(f"image: expected shape (H, W, 3) or (B, H, W, 3), got {tuple(tensor.shape)}")
    return tensor
