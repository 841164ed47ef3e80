"""Qwen-VL-style backbones: a grid of patches per image and 3-D rotary positions (M-RoPE).

Qwen2-VL, Qwen2.5-VL, GLM-4V and their kin take each image as flat patches with a
``(time, rows, columns)`` grid (``image_grid_thw``); merged patches become image tokens, so their
count follows the image, and an image's tokens take (time, row, column) positions while text
continues after the image's largest. What they share lives here, once, for the first-party
``robovlms-qwen2vl`` and for what ``robovlms new-plugin`` writes: a backbone sets ``model_class``
and its presets and writes ``prompt(instruction, image)``; the rest follows from its
``vision_config`` (``patch_size``, ``spatial_merge_size``, ``temporal_patch_size``) and the model's
own ``get_vision_position_ids``.
"""

from __future__ import annotations

from typing import Any

import torch

from robovlms.model.grid import GridBackbone
from robovlms.model.sequence import NO_IMAGE, ImageLayout, image_runs


class MRoPEBackbone(GridBackbone):
    """A :class:`GridBackbone` whose image tokens take 3-D positions (M-RoPE), as the model's own
    ``get_vision_position_ids`` lays them out."""

    def rope_positions(
        self, image_index: torch.Tensor, attention_mask: torch.Tensor, layout: ImageLayout
    ) -> torch.Tensor:
        """M-RoPE positions ``(3, B, L)`` as the model's ``get_rope_index`` lays them out, but with each
        image's block an image of its own wherever it sits (adjacent cameras included); padding keeps 0."""
        patch, merge = self._vision.patch_size, self._vision.spatial_merge_size
        grid = torch.tensor([1, layout.height // patch, layout.width // patch])
        positions = torch.zeros(3, *image_index.shape, dtype=torch.long, device=image_index.device)
        for row in range(image_index.shape[0]):
            valid = attention_mask[row].bool()
            pieces, current = [], 0
            for image, length in image_runs(image_index[row][valid]):
                if image == NO_IMAGE:
                    pieces.append(torch.arange(current, current + length).expand(3, -1))
                    current += length
                else:
                    pieces.append(self.vision_position_ids(current, grid, merge))
                    current = int(pieces[-1].max()) + 1  # text goes on after the block's last position
            if pieces:
                positions[:, row, valid] = torch.cat(pieces, dim=1).to(positions.device)
        return positions

    def vision_position_ids(self, start: int, grid: torch.Tensor, merge: int) -> torch.Tensor:
        """The ``(3, tokens)`` positions of one image's block whose first token sits at ``start``."""
        return self.model.model.get_vision_position_ids(start, grid, 1, merge)

    def text_inputs(
        self, image_index: torch.Tensor, attention_mask: torch.Tensor, layout: ImageLayout
    ) -> dict[str, Any]:
        """M-RoPE's positions; without images (text only), the language model numbers positions itself."""
        return {"position_ids": self.rope_positions(image_index, attention_mask, layout)}
