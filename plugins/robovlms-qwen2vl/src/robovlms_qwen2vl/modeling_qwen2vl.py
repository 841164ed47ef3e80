"""RoboQwen2VL: Qwen2-VL and Qwen2.5-VL as a robovlms backbone (``"backbone": "qwen2vl"``).

Qwen-VL sees each frame at its own resolution: the processor keeps the frame's area in a pixel
budget, 2x2 patches merge into one image token, so the prompt's ``<|image_pad|>`` count follows the
frame (plugin API 1.2's ``prompt(instruction, image)``). Its rotary positions are 3-D (M-RoPE):
an image's tokens take (time, row, column) positions, text continues after the image's largest.
``forward_text`` computes them from ``image_index`` with the model's own ``get_vision_position_ids``,
so they are right wherever the VLA puts images (later frames in ``interleaved`` mode included): the
core's :class:`~robovlms.model.mrope.MRoPEBackbone` does all of it, this plugin adds the prompt.
"""

from __future__ import annotations

from types import ModuleType
from typing import ClassVar

from torch import nn
from transformers import Qwen2_5_VLForConditionalGeneration, Qwen2VLForConditionalGeneration

from robovlms.model.mrope import MRoPEBackbone
from robovlms.model.sequence import ImageLayout
from robovlms_qwen2vl import configuration_qwen2vl


class RoboQwen2VL(MRoPEBackbone):
    name = "qwen2vl"
    model_class = Qwen2VLForConditionalGeneration
    also_wraps = (Qwen2_5_VLForConditionalGeneration,)
    fusion = "tokens"
    configuration: ClassVar[ModuleType] = configuration_qwen2vl
    presets: ClassVar[tuple[str, ...]] = tuple(configuration_qwen2vl.PRESETS)

    @property
    def vision_tower(self) -> nn.Module:
        return self.model.model.visual

    def prompt(self, instruction: str, image: ImageLayout) -> str:  # type: ignore[override]  # plugin API 1.2
        """Qwen2-VL-Instruct's chat template with one image, as its processor expands ``<|image_pad|>``."""
        pads = "<|image_pad|>" * (image.tokens or 0)
        return (
            "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
            f"<|vision_start|>{pads}<|vision_end|>{instruction}<|im_end|>\n<|im_start|>assistant\n"
        )
