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

from robovlms.model.backbone import BaseRoboVLM
from robovlms.model.sequence import NO_IMAGE, ImageLayout, image_runs


class MRoPEBackbone(BaseRoboVLM):
    """A ``tokens``-fusion backbone whose images enter as grids of merged patches, positioned by M-RoPE."""

    @property
    def _vision(self) -> Any:
        return self.model.config.vision_config

    def image_layout(self, height: int, width: int) -> ImageLayout:
        """One token per merged block of patches: the grid is the frame's size over patch size times merge size."""
        side = self._vision.patch_size * self._vision.spatial_merge_size
        grid = (height // side, width // side)
        return ImageLayout(height, width, tokens=grid[0] * grid[1], grid=grid)

    def grid_thw(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """``image_grid_thw`` of ``(B, 3, H, W)`` pixels: one frame, H and W in patches."""
        patch = self._vision.patch_size
        grid = [1, pixel_values.shape[-2] // patch, pixel_values.shape[-1] // patch]
        return torch.tensor([grid] * pixel_values.shape[0], device=pixel_values.device)

    def patchify(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` to flat patches ``(B * H/P * W/P, 3 * T * P * P)``, the frame repeated over the
        temporal patch, in the merge order of Qwen-VL's image processor."""
        b, c, h, w = pixel_values.shape
        p, m = self._vision.patch_size, self._vision.spatial_merge_size
        t = getattr(self._vision, "temporal_patch_size", 1)
        x = pixel_values.reshape(b, c, h // p // m, m, p, w // p // m, m, p)
        x = x.permute(0, 2, 5, 3, 6, 1, 4, 7).unsqueeze(-3).expand(*([-1] * 6), t, -1, -1)
        return x.reshape(b * (h // p) * (w // p), c * t * p * p)

    def model_encode_images(self, pixel_values: torch.Tensor) -> torch.Tensor:
        features = self.model.model.get_image_features(
            pixel_values=self.patchify(pixel_values), image_grid_thw=self.grid_thw(pixel_values)
        )
        features = getattr(features, "pooler_output", features)
        if isinstance(features, torch.Tensor):  # every image's tokens in one flat tensor
            features = features.chunk(pixel_values.shape[0])
        return torch.stack(list(features))

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
                    pieces.append(self.model.model.get_vision_position_ids(current, grid, 1, merge))
                    current += int(grid[1:].max()) // merge
            if pieces:
                positions[:, row, valid] = torch.cat(pieces, dim=1).to(positions.device)
        return positions

    def forward_text(
        self,
        inputs_embeds: torch.Tensor,
        attention_mask: torch.Tensor,
        *,
        image_index: torch.Tensor | None = None,
        image_layout: ImageLayout | None = None,
        **_: Any,
    ) -> torch.Tensor:
        """Told where the images are, positions are M-RoPE's; without, a text-only sequence's."""
        positions = None
        if image_index is not None and image_layout is not None:
            positions = self.rope_positions(image_index, attention_mask, image_layout)
        return self.text_tower(
            inputs_embeds=inputs_embeds, attention_mask=attention_mask, position_ids=positions, use_cache=False
        ).last_hidden_state

    def reference_inputs(
        self, pixel_values: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> dict[str, Any]:
        """The model's own inputs: flat patches, their grids, and which tokens are image tokens."""
        return {
            "input_ids": input_ids,
            "attention_mask": attention_mask,
            "pixel_values": self.patchify(pixel_values),
            "image_grid_thw": self.grid_thw(pixel_values),
            "mm_token_type_ids": self.image_slots(input_ids).int(),
            "use_cache": False,
        }
