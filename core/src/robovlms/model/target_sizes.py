"""Backbones whose images enter NaViT-packed with their patch grids as ``target_sizes`` (MiniCPM-V 4.6).

Their processor packs every image's patches side by side into one ``(1, 3, P, total)`` tensor, each image
``(3, P, rows * columns * P)`` with its patches row by row, and gives each image's grid in patches,
``(rows, columns)``; the encoder merges ``window_kernel_size`` blocks of patches after
``insert_layer_id`` (unless ``downsample_mode`` is ``4x``) and ``merge_kernel_size`` blocks
``merger_times`` over in its merger, one image token per merged block. The processor may slice a large
image into several, but a robot's camera has one frame size: robovlms resizes every frame to one square
side on that grid, for which the processor (its ``scale_resolution`` that side, slicing off) gives one
slice, the frame as it is; so the number of image tokens is constant, and the rest is
:class:`~robovlms.model.grid.GridBackbone`'s.
"""

from __future__ import annotations

from typing import Any

import torch

from robovlms.model.grid import GridBackbone


def target_sizes_merge(config: Any) -> int:
    """Patches merged per side into one image token: the window merger's (unless ``downsample_mode`` is
    ``4x``) times the merger's kernel, ``merger_times`` over."""
    kernel = config.merge_kernel_size[0] ** int(getattr(config, "merger_times", 1) or 1)
    window = 1 if getattr(config, "downsample_mode", "16x") == "4x" else config.vision_config.window_kernel_size[0]
    return int(window * kernel)


class TargetSizesBackbone(GridBackbone):
    """A :class:`GridBackbone` fed NaViT-packed patches and ``target_sizes``."""

    @property
    def merge_size(self) -> int:
        """Patches merged per side into one image token (:func:`target_sizes_merge`)."""
        return target_sizes_merge(self.model.config)

    def target_sizes(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """``target_sizes`` of ``(B, 3, H, W)`` pixels: each frame's ``(rows, columns)`` in patches, as int32."""
        return self.grid_thw(pixel_values)[:, 1:].int()

    def patchify(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` to the processor's packing ``(1, 3, P, B * H/P * W/P * P)``: each frame's patches
        row by row, each patch's rows stacked along the second axis, the frames side by side."""
        b, c, h, w = pixel_values.shape
        p = self._vision.patch_size
        x = pixel_values.reshape(b, c, h // p, p, w // p, p).permute(1, 3, 0, 2, 4, 5)  # (C, P, B, rows, cols, P)
        return x.reshape(1, c, p, -1)

    def image_inputs(self, pixel_values: torch.Tensor) -> dict[str, torch.Tensor]:
        """The image path's inputs: the packed patches and each frame's grid."""
        return {"pixel_values": self.patchify(pixel_values), "target_sizes": self.target_sizes(pixel_values)}
