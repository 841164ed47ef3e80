"""The tiny VLM the core's backbone tests wrap: the transformers model built at random from a preset's config,
in eval mode, under the adapter class the test checks."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

import torch

from robovlms.config import VLMConfig
from robovlms.model.backbone import BaseRoboVLM

if TYPE_CHECKING:
    from transformers import PretrainedConfig

Backbone = TypeVar("Backbone", bound=BaseRoboVLM)


def tiny_backbone(
    backbone: type[Backbone],
    config: PretrainedConfig,
    processor: Any,
    *,
    tokenizer: Any = None,
    seed: int | None = 0,
    vlm: VLMConfig | None = None,
) -> Backbone:
    """``backbone.model_class`` built from ``config`` and wrapped with ``processor`` and ``tokenizer``.

    ``seed`` seeds torch right before the model is built, so its random weights (and the draws a test makes
    after) are the same on every run; ``None`` leaves the generator as it is. ``vlm`` defaults to the tiny preset.
    """
    if seed is not None:
        torch.manual_seed(seed)
    model = backbone.model_class(config).eval()
    return backbone(model, tokenizer, processor, vlm if vlm is not None else VLMConfig(preset="tiny"))
