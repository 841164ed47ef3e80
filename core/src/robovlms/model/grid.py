"""Backbones whose images enter as grids of patches (``image_grid_thw``): the image path alone.

Qwen2-VL's processor format spread beyond Qwen-VL's kin: many VLMs (EXAONE 4.5, LFM3-VL, dots3,
GLM-5-Next, HyperCLOVA X, ...) take each image as flat patches with a ``(time, rows, columns)`` grid
and make one image token per merged block of patches, so the count follows the image; their language
models then number positions 1-D, as text, which the core's default ``forward_text`` does. What they
share lives here, once: a backbone sets ``model_class`` and its presets and writes
``prompt(instruction, image)``; the rest follows from its ``vision_config`` (``patch_size``,
``spatial_merge_size``, ``temporal_patch_size``). :class:`~robovlms.model.mrope.MRoPEBackbone` adds
the 3-D positions of the classes that have them.
"""

from __future__ import annotations

import inspect
from typing import Any, ClassVar, Literal

import torch

from robovlms.model.backbone import BaseRoboVLM
from robovlms.model.sequence import ImageLayout


class GridBackbone(BaseRoboVLM):
    """A ``tokens``-fusion backbone whose images enter as grids of merged patches."""

    #: how the processor lays out flat patches: ``merged`` (Qwen-VL's: each merged block's patches together,
    #: each patch one row of channels, time, rows, columns), ``merged_hwc`` (the same blocks, each patch's
    #: values as rows, columns, channels, time: Cosmos 3 Edge), ``rows_flat`` (patches row by row, each as
    #: ``merged``'s: HunYuan-VL) or ``rows`` (row by row, each ``(3 * T, P, P)``: PaddleOCR-VL)
    patch_layout: ClassVar[Literal["merged", "merged_hwc", "rows_flat", "rows"]] = "merged"
    #: tokens the encoder adds after each row of merged blocks (a newline: HunYuan-VL, HY-V4-VL) and around each
    #: image (its begin and end: HunYuan-VL's 2), which the prompt holds placeholders for as well
    row_end_tokens: ClassVar[int] = 0
    image_end_tokens: ClassVar[int] = 0

    @property
    def _vision(self) -> Any:
        return self.model.config.vision_config

    @property
    def merge_size(self) -> int:
        """Patches merged per side into one image token: the vision config's ``spatial_merge_size``, else the
        processor's ``merge_size``, which the model then takes per image (VideoLLaMA 3's ``image_merge_sizes``)."""
        return int(getattr(self._vision, "spatial_merge_size", None) or self.transformers_processor.merge_size)

    def image_layout(self, height: int, width: int) -> ImageLayout:
        """One token per merged block of patches: the grid is the frame's size over patch size times merge size;
        plus the tokens the encoder adds per row and per image."""
        side = self._vision.patch_size * self.merge_size
        grid = (height // side, width // side)
        tokens = grid[0] * (grid[1] + self.row_end_tokens) + self.image_end_tokens
        return ImageLayout(height, width, tokens=tokens, grid=grid)

    def grid_thw(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """``image_grid_thw`` of ``(B, 3, H, W)`` pixels: one frame, H and W in patches."""
        patch = self._vision.patch_size
        grid = [1, pixel_values.shape[-2] // patch, pixel_values.shape[-1] // patch]
        return torch.tensor([grid] * pixel_values.shape[0], device=pixel_values.device)

    def patchify(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` to flat patches ``(B * H/P * W/P, 3 * T * P * P)`` (``rows``: ``(..., 3 * T, P, P)``),
        the frame repeated over the temporal patch (none where the encoder has no time axis), laid out as
        :attr:`patch_layout` says."""
        b, c, h, w = pixel_values.shape
        p, m = self._vision.patch_size, self.merge_size
        t = getattr(self._vision, "temporal_patch_size", None) or 1
        rows, columns = h // p, w // p
        x = pixel_values.reshape(b, c, rows, p, columns, p).permute(0, 2, 4, 1, 3, 5)  # (B, rows, columns, C, P, P)
        if self.patch_layout.startswith("merged"):  # each merged block's m x m patches together
            x = x.reshape(b, rows // m, m, columns // m, m, c, p, p).transpose(2, 3)
        x = x.reshape(b * rows * columns, c, p, p)
        if self.patch_layout == "merged_hwc":
            return x.permute(0, 2, 3, 1).unsqueeze(-1).expand(-1, -1, -1, -1, t).reshape(len(x), -1)
        x = x.unsqueeze(2).expand(-1, -1, t, -1, -1)
        return x.reshape(len(x), c * t, p, p) if self.patch_layout == "rows" else x.reshape(len(x), -1)

    def image_inputs(self, pixel_values: torch.Tensor) -> dict[str, torch.Tensor]:
        """The image path's inputs: flat patches, their grids, and each image's merge where the model takes it."""
        inputs = {"pixel_values": self.patchify(pixel_values), "image_grid_thw": self.grid_thw(pixel_values)}
        if "image_merge_sizes" in inspect.signature(self.model.model.get_image_features).parameters:
            inputs["image_merge_sizes"] = torch.full((len(pixel_values),), self.merge_size, device=pixel_values.device)
        return inputs

    def model_encode_images(self, pixel_values: torch.Tensor) -> torch.Tensor:
        features = self.model.model.get_image_features(**self.image_inputs(pixel_values))
        features = getattr(features, "pooler_output", features)
        if isinstance(features, torch.Tensor):  # every image's tokens in one flat tensor
            features = features.chunk(pixel_values.shape[0])
        return torch.stack(list(features))

    def text_inputs(
        self, image_index: torch.Tensor, attention_mask: torch.Tensor, layout: ImageLayout
    ) -> dict[str, Any]:
        """What the language model takes besides embeddings and mask, from where the images sit: nothing
        here (positions as text's); M-RoPE's positions, DeepStack's features in the subclasses."""
        return {}

    def forward_text(
        self,
        inputs_embeds: torch.Tensor,
        attention_mask: torch.Tensor,
        *,
        image_index: torch.Tensor | None = None,
        image_layout: ImageLayout | None = None,
        **_: Any,
    ) -> torch.Tensor:
        """Told where the images are, the language model gets :meth:`text_inputs`; without, a text-only
        sequence's. No cache, which some language models (linear-attention hybrids) cannot size from one pass."""
        extra = {}
        if image_index is not None and image_layout is not None:
            extra = self.text_inputs(image_index, attention_mask, image_layout)
        return self.text_tower(
            inputs_embeds=inputs_embeds, attention_mask=attention_mask, use_cache=False, **extra
        ).last_hidden_state

    def reference_inputs(
        self, pixel_values: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> dict[str, Any]:
        """The model's own inputs: flat patches, their grids, and (where its forward asks) which tokens are
        image tokens."""
        inputs = {
            "input_ids": input_ids,
            "attention_mask": attention_mask,
            **self.image_inputs(pixel_values),
            "use_cache": False,
        }
        if "mm_token_type_ids" in inspect.signature(self.model.forward).parameters:
            inputs["mm_token_type_ids"] = self.image_slots(input_ids).int()
        return inputs
