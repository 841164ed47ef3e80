"""Backbones over a VLM that another model holds as a part of its own (PI0's PaliGemma).

A vision-language-action model such as PI0 keeps a whole VLM under ``model.model`` (PI0Model's
``vlm``, a PaliGemmaModel built from ``config.vlm_config``) beside parts robovlms does not use (its
action expert). The checkpoint is the outer model's, so that is the model robovlms loads and saves;
the towers, the image path and the attention are the inner VLM's, and so is the fidelity reference:
the inner VLM's own forward over the prompt, with the ``token_type_ids`` the outer model gives it
(PI0 gives all zeros: its whole prompt is the prefix, which attends bidirectionally).
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from robovlms.model.token_types import TokenTypeBackbone


class InnerVLMBackbone(TokenTypeBackbone):
    """A ``tokens``-fusion backbone over the VLM at ``model.model.<inner_vlm>``, configured by
    ``config.<inner_config>``.

    The inner VLM reads ``token_type_ids`` in the sense ``token_types`` names (see
    :class:`robovlms.model.token_types.TokenTypeBackbone`), and keeps its towers under transformers' usual
    names (``language_model``, ``vision_tower``) and ``get_image_features`` for its image tokens.
    """

    #: the inner VLM's attribute under ``model.model``
    inner_vlm: ClassVar[str] = "vlm"
    #: the outer config's entry that configures it
    inner_config: ClassVar[str] = "vlm_config"

    @property
    def vlm(self) -> Any:
        """The inner VLM (its base model: towers, projector, ``get_image_features``)."""
        return getattr(self.model.model, self.inner_vlm)

    @property
    def inner_vlm_config(self) -> Any:
        return getattr(self.model.config, self.inner_config)

    @property
    def hidden_size(self) -> int:
        return int(self.inner_vlm_config.get_text_config().hidden_size)

    @property
    def text_tower(self) -> nn.Module:
        return self.vlm.language_model

    @property
    def vision_tower(self) -> nn.Module:
        return self.vlm.vision_tower

    @property
    def image_token_id(self) -> int | None:
        return getattr(self.inner_vlm_config, "image_token_id", None)

    def model_encode_images(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """The inner VLM's image tokens, projected into its language model's width."""
        features = self.vlm.get_image_features(pixel_values=pixel_values)
        return getattr(features, "pooler_output", features)

    @property
    def token_type_model(self) -> Any:
        """The inner VLM makes the mask of ``token_type_ids``, as it does when the outer model calls it."""
        return self.vlm

    def reference_forward(
        self, pixel_values: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> torch.Tensor:
        """The inner VLM's own forward: the outer model's forward needs inputs of its own (PI0's robot state)
        and returns what its other parts make of the VLM's states."""
        return self.vlm(**self.reference_inputs(pixel_values, input_ids, attention_mask)).last_hidden_state
