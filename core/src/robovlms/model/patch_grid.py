"""Grid backbones over a VLM that keeps its parts at its model's top level and takes raster patches with
``image_grid_hw`` (NemotronH Omni).

Its processor hands the patches row by row, each ``(3, P, P)`` flattened, with their grid in patches
(rows, columns: no time axis); the VLM merges them by a pixel shuffle of the config's
``downsample_ratio`` after the encoder, and keeps ``vision_model``, ``multi_modal_projector`` and
``language_model`` side by side as Llama 4 does, its forward returning logits.
"""

from __future__ import annotations

import torch

from robovlms.model.grid import GridBackbone
from robovlms.model.raster_grid import frame_merge
from robovlms.model.top_level import TopLevelBackbone


class PatchGridBackbone(GridBackbone, TopLevelBackbone):
    """A :class:`GridBackbone` on :class:`TopLevelBackbone`'s towers and reference forward."""

    patch_layout = "rows_flat"

    @property
    def merge_size(self) -> int:
        return frame_merge(self.model.config)

    def image_inputs(self, pixel_values: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"pixel_values": self.patchify(pixel_values), "image_grid_hw": self.grid_thw(pixel_values)[:, 1:]}

    def model_encode_images(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return torch.stack(list(self.model.get_image_features(**self.image_inputs(pixel_values)).pooler_output))
