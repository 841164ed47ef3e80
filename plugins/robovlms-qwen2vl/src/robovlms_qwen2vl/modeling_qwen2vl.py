"""RoboQwen2VL: Qwen2-VL and Qwen2.5-VL as a robovlms backbone (``"backbone": "qwen2vl"``).

Qwen-VL sees each frame at its own resolution: the processor keeps the frame's area in a pixel
budget, 2x2 patches merge into one image token, so the prompt's ``<|image_pad|>`` count follows the
frame (plugin API 1.2's ``prompt(instruction, image)``). Its rotary positions are 3-D (M-RoPE):
an image's tokens take (time, row, column) positions, text continues after the image's largest.
``forward_text`` computes them from ``image_index`` with the model's own ``get_vision_position_ids``,
so they are right wherever the VLA puts images (later frames in ``interleaved`` mode included).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from transformers import Qwen2_5_VLForConditionalGeneration, Qwen2VLForConditionalGeneration

from robovlms import BaseRoboVLM
from robovlms.model.sequence import NO_IMAGE, ImageLayout, image_runs
from robovlms_qwen2vl import configuration_qwen2vl


class RoboQwen2VL(BaseRoboVLM):
    name = "qwen2vl"
    model_class = Qwen2VLForConditionalGeneration
    also_wraps = (Qwen2_5_VLForConditionalGeneration,)
    fusion = "tokens"
    configuration = configuration_qwen2vl
    presets = tuple(configuration_qwen2vl.PRESETS)

    @property
    def vision_tower(self) -> nn.Module:
        return self.model.model.visual

    @property
    def _vision(self) -> Any:
        return self.model.config.vision_config

    def image_layout(self, height: int, width: int) -> ImageLayout:
        """One token per 2x2 patches: the grid is the frame's size over patch size times merge size."""
        side = self._vision.patch_size * self._vision.spatial_merge_size
        grid = (height // side, width // side)
        return ImageLayout(height, width, tokens=grid[0] * grid[1], grid=grid)

    def prompt(self, instruction: str, image: ImageLayout) -> str:
        """Qwen2-VL-Instruct's chat template with one image, as its processor expands ``<|image_pad|>``."""
        pads = "<|image_pad|>" * (image.tokens or 0)
        return (
            "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
            f"<|vision_start|>{pads}<|vision_end|>{instruction}<|im_end|>\n<|im_start|>assistant\n"
        )

    def grid_thw(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """``image_grid_thw`` of ``(B, 3, H, W)`` pixels: one frame, H and W in patches."""
        patch = self._vision.patch_size
        grid = [1, pixel_values.shape[-2] // patch, pixel_values.shape[-1] // patch]
        return torch.tensor([grid] * pixel_values.shape[0], device=pixel_values.device)

    def patchify(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` to Qwen's flat patches ``(B * H/P * W/P, 3 * T * P * P)``, the frame repeated
        over the temporal patch, in the merge order of its image processor."""
        b, c, h, w = pixel_values.shape
        p, m, t = self._vision.patch_size, self._vision.spatial_merge_size, self._vision.temporal_patch_size
        x = pixel_values.reshape(b, c, h // p // m, m, p, w // p // m, m, p)
        x = x.permute(0, 2, 5, 3, 6, 1, 4, 7).unsqueeze(-3).expand(*([-1] * 6), t, -1, -1)
        return x.reshape(b * (h // p) * (w // p), c * t * p * p)

    def model_encode_images(self, pixel_values: torch.Tensor) -> torch.Tensor:
        features = self.model.model.get_image_features(
            pixel_values=self.patchify(pixel_values), image_grid_thw=self.grid_thw(pixel_values)
        ).pooler_output
        return torch.stack(features)

    def rope_positions(
        self, image_index: torch.Tensor, attention_mask: torch.Tensor, layout: ImageLayout
    ) -> torch.Tensor:
        """M-RoPE positions ``(3, B, L)`` as ``get_rope_index`` lays them out, but with each image's block
        an image of its own wherever it sits (adjacent cameras included); padding keeps 0."""
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
