"""Qwen3-VL's DeepStack: image features that enter the language model's first layers as well.

Qwen3-VL and its kin add, besides the image tokens at the placeholders, features of earlier vision
layers to the hidden states of the image positions after each of the language model's first layers.
The backbone contract carries image tokens only (``encode_images`` gives ``(B, N, D)``, which the VLA
places, cameras and frames alike); so :class:`DeepStackBackbone` keeps the DeepStack features of the
images it last encoded and hands them to the language model at the positions ``image_index`` names
(plugin API 1.2), image by image in the order they were encoded. A ``robovlms_encode_images`` hook
that replaces the encoding leaves no such features: the language model then runs without them.
"""

from __future__ import annotations

from typing import Any

import torch

from robovlms.errors import PluginError
from robovlms.model.backbone import BaseRoboVLM
from robovlms.model.mrope import MRoPEBackbone
from robovlms.model.sequence import NO_IMAGE, ImageLayout, image_runs


class KeptDeepStack(BaseRoboVLM):
    """A backbone that keeps the features its last encoding made for the language model's layers until the
    text pass after it (DeepStack's, Granite 4 Vision's per layer), for that one pass only."""

    #: the features of every image of the last encoding, per layer (each ``(images, N, D)``)
    _deepstack: Any = None

    def encode_images(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """The image tokens; features of an earlier encoding never outlive it (a hook's encoding leaves none)."""
        self._deepstack = None
        return super().encode_images(pixel_values)

    def take_deepstack(self) -> Any:
        """The kept features, once: the features of one encoding serve one pass."""
        kept, self._deepstack = self._deepstack, None
        return kept


class DeepStackBackbone(KeptDeepStack, MRoPEBackbone):
    """An :class:`MRoPEBackbone` whose vision encoder also feeds the language model's first layers."""

    def model_encode_images(self, pixel_values: torch.Tensor) -> torch.Tensor:
        tokens, self._deepstack = encode_deepstack(
            self.model.model.get_image_features(**self.image_inputs(pixel_values))
        )
        return tokens

    def text_inputs(
        self, image_index: torch.Tensor, attention_mask: torch.Tensor, layout: ImageLayout
    ) -> dict[str, Any]:
        """M-RoPE's positions, and each image position's DeepStack features, row by row as the positions run."""
        inputs = super().text_inputs(image_index, attention_mask, layout)
        return {**inputs, **deepstack_inputs(self.name, self.take_deepstack(), image_index)}


def encode_deepstack(output: Any) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """``get_image_features``' image tokens ``(images, N, D)`` and, per DeepStack layer, the features of every
    image ``(images, N, D)``: both come per image (a tuple), as Qwen3-VL's and GraniteDocling's do."""
    return torch.stack(list(output.pooler_output)), [torch.stack(list(layer)) for layer in output.deepstack_features]


def deepstack_inputs(name: str, stacked: list[torch.Tensor] | None, image_index: torch.Tensor) -> dict[str, Any]:
    """The language model's DeepStack inputs: the image positions, and each one's features, row by row as the
    positions run; nothing without features (a hook encoded the images) or image positions."""
    visual = image_index != NO_IMAGE
    if stacked is None or not visual.any():
        return {}
    rows, images = image_index.shape[0], stacked[0].shape[0]
    if images % rows:
        raise PluginError(
            f"backbone {name!r}: {images} images were encoded for {rows} sequences; DeepStack needs "
            "each sequence's images encoded together, in sequence order"
        )
    per_row = images // rows
    order = [row * per_row + image for row in range(rows) for image, _ in image_runs(image_index[row]) if image >= 0]
    pick = torch.tensor(order, device=stacked[0].device)
    return {"visual_pos_masks": visual, "deepstack_visual_embeds": [layer[pick].flatten(0, 1) for layer in stacked]}
