"""Tiled backbones whose image features enter the language model at layers of their own (Granite 4 Vision).

Granite 4 Vision tiles each image as LLaVA-NeXT does (:class:`~robovlms.model.tiles.TiledBackbone`: a
square frame of the encoder's size is the base view and one tile), but its ``get_image_features`` returns
no image tokens: only features per language-model layer (``deepstack_features``, pairs of a layer and
each image's features), from window Q-Formers over chosen vision layers (``deepstack_layer_map``) and over
four spatial samplings (``spatial_target_layers``). Its forward zeroes the placeholders' embeddings and
its language model adds each layer's features to the image positions before that layer. So the image
tokens robovlms places are zeros, as in the model's own forward, and the per-layer features of the last
encoding go to the language model at the positions ``image_index`` names (plugin API 1.2), image by
image in the order they were encoded, as :class:`~robovlms.model.deepstack.DeepStackBackbone`'s do.
"""

from __future__ import annotations

from typing import Any

import torch

from robovlms.model.deepstack import KeptDeepStack, deepstack_inputs
from robovlms.model.tiles import TiledBackbone


class LayerMapBackbone(KeptDeepStack, TiledBackbone):
    """A :class:`TiledBackbone` whose images enter the language model only as features at layers of their own."""

    def model_encode_images(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """Zeros at the placeholders, as the model's own forward puts there; the features wait for the text pass.
        A layer named twice keeps its last features, as the model's own mapping by layer does."""
        output = self.model.model.get_image_features(**self.image_inputs(pixel_values))
        layers = {int(layer): torch.stack(list(packed)) for layer, packed in output.deepstack_features}
        self._deepstack = layers  # per language-model layer
        return torch.zeros_like(next(iter(layers.values())))

    def forward_text(
        self,
        inputs_embeds: torch.Tensor,
        attention_mask: torch.Tensor,
        *,
        image_index: torch.Tensor | None = None,
        **_: Any,
    ) -> torch.Tensor:
        """Told where the images are, the language model also gets each layer's features at their positions."""
        layers: dict[int, torch.Tensor] = self.take_deepstack() or {}
        found = (
            {} if image_index is None or not layers else deepstack_inputs(self.name, list(layers.values()), image_index)
        )
        extra = (
            {
                "vision_mask": found["visual_pos_masks"].unsqueeze(-1),
                "deepstack_features": dict(zip(layers, found["deepstack_visual_embeds"], strict=True)),
            }
            if found
            else {}
        )
        return self.text_tower(
            inputs_embeds=inputs_embeds, attention_mask=attention_mask, use_cache=False, **extra
        ).last_hidden_state
