"""HunYuan-VL's positions: text numbered 1-D on every rotary axis, each image's grid re-numbered on the last three.

Unlike Qwen-VL's M-RoPE, text does not skip past an image: every token keeps its place in the row on
all axes, and an image's grid tokens (inside its begin and end tokens) take (column, row, image
ordinal) on the last three axes instead, the ordinal counting images across the whole batch in order.
The grid's positions come from the model's own ``get_vision_position_ids``.
"""

from __future__ import annotations

import torch

from robovlms.model.mrope import MRoPEBackbone
from robovlms.model.sequence import NO_IMAGE, ImageLayout, image_runs


class OrdinalRoPEBackbone(MRoPEBackbone):
    """An :class:`MRoPEBackbone` whose image tokens take (column, row, image ordinal) on the last three axes."""

    def rope_positions(
        self, image_index: torch.Tensor, attention_mask: torch.Tensor, layout: ImageLayout
    ) -> torch.Tensor:
        axes = len(self.model.config.text_config.rope_parameters["mrope_section"])
        merge, patch = self._vision.spatial_merge_size, self._vision.patch_size
        grid = self.model.model.get_vision_position_ids((layout.height // patch, layout.width // patch), merge)
        positions = torch.zeros(axes, *image_index.shape, dtype=torch.long, device=image_index.device)
        ordinal = 0
        for row in range(image_index.shape[0]):
            valid = attention_mask[row].bool()
            current = torch.arange(int(valid.sum()), device=image_index.device).expand(axes, -1).clone()
            start = 0
            for image, length in image_runs(image_index[row][valid]):
                if image != NO_IMAGE:
                    first = start + self.image_end_tokens // 2  # the grid begins after the image's begin token
                    block = slice(first, first + grid.shape[1])
                    current[axes - 3 : axes - 1, block] = grid.to(current.device)
                    current[axes - 1, block] = ordinal
                    ordinal += 1
                start += length
            positions[:, row, valid] = current
        return positions
