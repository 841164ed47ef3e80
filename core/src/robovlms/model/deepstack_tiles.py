"""DeepStack without grids: GraniteDocling's tiles, whose vision layers also feed the language model's first layers.

GraniteDocling cuts a page into tiles of its encoder's size and takes them per sample, ``(batch, tiles, 3,
S, S)``, with ``pixel_attention_mask`` ``(batch, tiles)`` marking the real ones; its connector turns each
tile into a fixed number of image tokens, and features of earlier vision layers (``deepstack_visual_indexes``)
are added to the image positions' hidden states after each of the language model's first layers, as
Qwen3-VL's DeepStack does, but over 1-D positions, without grids or M-RoPE. robovlms feeds square frames of
the encoder's size: one frame is one tile, so the number of image tokens is fixed. The DeepStack features
travel as :class:`~robovlms.model.deepstack.DeepStackBackbone`'s do (kept from the last encoding, handed to
the language model at the positions ``image_index`` names, plugin API 1.2).
"""

from __future__ import annotations

from typing import Any

import torch

from robovlms.model.deepstack import KeptDeepStack, deepstack_inputs, encode_deepstack


class TiledDeepStackBackbone(KeptDeepStack):
    """A ``tokens``-fusion backbone whose frames are one tile each and whose vision layers feed DeepStack."""

    def image_inputs(self, pixel_values: torch.Tensor) -> dict[str, torch.Tensor]:
        """``(B, 3, S, S)`` frames as one tile per sample ``(B, 1, 3, S, S)``, every tile real."""
        mask = torch.ones(len(pixel_values), 1, dtype=torch.bool, device=pixel_values.device)
        return {"pixel_values": pixel_values.unsqueeze(1), "pixel_attention_mask": mask}

    def model_encode_images(self, pixel_values: torch.Tensor) -> torch.Tensor:
        tokens, self._deepstack = encode_deepstack(
            self.model.model.get_image_features(**self.image_inputs(pixel_values))
        )
        return tokens

    def forward_text(
        self,
        inputs_embeds: torch.Tensor,
        attention_mask: torch.Tensor,
        *,
        image_index: torch.Tensor | None = None,
        **_: Any,
    ) -> torch.Tensor:
        """Told where the images are, the language model also gets their DeepStack features; 1-D positions."""
        stacked = self.take_deepstack()
        extra = {} if image_index is None else deepstack_inputs(self.name, stacked, image_index)
        return self.text_tower(
            inputs_embeds=inputs_embeds, attention_mask=attention_mask, use_cache=False, **extra
        ).last_hidden_state

    def reference_inputs(
        self, pixel_values: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> dict[str, Any]:
        return {**super().reference_inputs(pixel_values, input_ids, attention_mask), **self.image_inputs(pixel_values)}
