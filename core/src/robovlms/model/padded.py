"""Backbones over a VLM whose processor keeps a frame's aspect ratio and pads it to a square (Aria).

Aria's processor resizes the longer side to ``max_image_size`` and pads the bottom and right, and its
``get_image_features`` takes the ``pixel_mask`` of the frame's own pixels: its vision encoder attends only
the patches that hold some, and its projector's queries only those. robovlms's
:class:`~robovlms.model.images.ImageProcessor` (rule ``longest_edge_pad``) returns the frame at its
resized size, so the mask follows from the pixels' shape wherever they go; this class pads them and
builds the mask on the way into the VLM, for the image path and the reference forward alike.
"""

from __future__ import annotations

from typing import Any

import torch

from robovlms.model.backbone import BaseRoboVLM


class PaddedSquareBackbone(BaseRoboVLM):
    """A ``tokens``-fusion backbone whose image path takes padded pixels and their ``pixel_mask``."""

    def padded_inputs(self, pixel_values: torch.Tensor) -> dict[str, torch.Tensor]:
        """The pixels padded to the processor's square, with the mask of the frame's own pixels."""
        pixels, mask = self.image_processor.pad(pixel_values)
        return {"pixel_values": pixels, "pixel_mask": mask}

    def model_encode_images(self, pixel_values: torch.Tensor) -> torch.Tensor:
        features = self.model.model.get_image_features(**self.padded_inputs(pixel_values))
        return getattr(features, "pooler_output", features)

    def reference_inputs(
        self, pixel_values: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> dict[str, Any]:
        return {**super().reference_inputs(pixel_values, input_ids, attention_mask), **self.padded_inputs(pixel_values)}
