"""Grid backbones whose processor lays patches out row by row for an encoder that merges the blocks
itself (Muse Glimmer, Muse Spark, Kimi K2.5).

Their ``get_image_features`` takes Qwen-VL's ``image_grid_thw``, but the vision tower regroups each
``merge x merge`` block of patches itself (a pixel shuffle or a pooling after attention), so the
processor hands the patches in raster order, not block by block. The vision config names the merge
``merge_size`` (Muse) or ``merge_kernel_size`` (Kimi, a square kernel), not Qwen-VL's
``spatial_merge_size``. A patch is ``(time, channels, rows, columns)`` flattened, the frame repeated
``patch_temporal`` times, where the config has that (Muse), else ``(channels, rows, columns)`` for a
convolution (Kimi).
"""

from __future__ import annotations

from typing import Any

import torch

from robovlms.model.grid import GridBackbone
from robovlms.model.images import hwc_patches


def raster_merge(vision: Any) -> int | None:
    """Patches merged per side into one image token: ``merge_size``, or a square ``merge_kernel_size``, else
    Qwen-VL's ``spatial_merge_size``."""
    kernel = getattr(vision, "merge_kernel_size", None)
    if isinstance(kernel, (list, tuple)) and len(set(kernel)) == 1 and isinstance(kernel[0], int):
        return kernel[0]
    merge = getattr(vision, "merge_size", None) or getattr(vision, "spatial_merge_size", None)
    return merge if isinstance(merge, int) else None


class RasterGridBackbone(GridBackbone):
    """A :class:`GridBackbone` fed raster-ordered patches; the encoder does the merge."""

    @property
    def merge_size(self) -> int:
        """Patches merged per side into one image token, as the vision config says (:func:`raster_merge`)."""
        return int(raster_merge(self._vision) or 0)

    def patchify(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` to ``B * H/P * W/P`` patches row by row: each ``(T * 3 * P * P)``, the frame's
        ``(3, P, P)`` repeated over ``patch_temporal`` first, or ``(3, P, P)`` where there is no time axis."""
        b, c, h, w = pixel_values.shape
        p, t = self._vision.patch_size, getattr(self._vision, "patch_temporal", None)
        rows, columns = h // p, w // p
        x = pixel_values.reshape(b, c, rows, p, columns, p).permute(0, 2, 4, 1, 3, 5)  # (B, rows, columns, C, P, P)
        if t is None:
            return x.reshape(b * rows * columns, c, p, p)
        return x.unsqueeze(3).expand(-1, -1, -1, int(t), -1, -1, -1).reshape(b * rows * columns, int(t) * c * p * p)


class TokenGridBackbone(GridBackbone):
    """A :class:`GridBackbone` fed one block of pixels per image token (Inkling 2): each block, ``patch size x
    merge size`` pixels a side, whole and channels last, in raster order; ``image_grid_thw`` counts tokens,
    and the encoder cuts the blocks into patches itself."""

    def grid_thw(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """``image_grid_thw`` of ``(B, 3, H, W)`` pixels: one frame, H and W in image tokens."""
        side = self._vision.patch_size * self.merge_size
        grid = [1, pixel_values.shape[-2] // side, pixel_values.shape[-1] // side]
        return torch.tensor([grid] * pixel_values.shape[0], device=pixel_values.device)

    def patchify(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` to ``(B * H/S * W/S, S, S, 3)`` blocks row by row, ``S`` the token's side in pixels."""
        s = self._vision.patch_size * self.merge_size
        return hwc_patches(pixel_values, s).flatten(0, 1).unflatten(-1, (s, s, pixel_values.shape[1]))


def frame_merge(config: Any) -> int:
    """Patches merged per side into one image token: the vision config's (:func:`raster_merge`), else the
    inverse of the config's pixel-shuffle ``downsample_ratio`` (NemotronH Omni's 0.5: 2)."""
    merge = raster_merge(config.vision_config)
    ratio = getattr(config, "downsample_ratio", None)
    return merge if merge else round(1 / ratio) if isinstance(ratio, float) and ratio > 0 else 0
