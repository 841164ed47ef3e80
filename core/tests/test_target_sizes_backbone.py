"""MiniCPM-V 4.6's NaViT-packed images with target_sizes (robovlms.model.target_sizes): the packing its own
PIL processor makes, robovlms's pass over a batch of two frames equal to the VLM's own forward."""

from __future__ import annotations

import pytest
import torch
from transformers import (
    MiniCPMOcrForConditionalGeneration,
    MiniCPMV4_6Config,
    MiniCPMV4_6ForConditionalGeneration,
    MiniCPMV4_7ForConditionalGeneration,
    SiglipImageProcessorPil,
)

from robovlms.config import VLMConfig
from robovlms.model.target_sizes import TargetSizesBackbone
from robovlms.scaffold.hf import facts
from robovlms.scaffold.navit import navit_stand_in


class MiniCPMV(TargetSizesBackbone):
    name = "minicpmv"
    model_class = MiniCPMV4_6ForConditionalGeneration


def test_two_frames_pass_as_the_models_own_forward() -> None:
    """Two 32-pixel frames, 4 tokens each (16 patches per side merged by the window merger and the merger):
    robovlms's hidden states equal MiniCPM-V 4.6's forward over the processor's packing and target_sizes."""
    hf = facts(MiniCPMV4_6ForConditionalGeneration)
    assert hf.reason is None and hf.navit and hf.presets is not None
    torch.manual_seed(0)
    model = MiniCPMV4_6ForConditionalGeneration(MiniCPMV4_6Config(**hf.presets["tiny"])).eval()
    processor = SiglipImageProcessorPil(size={"height": 32, "width": 32})
    robovlm = MiniCPMV(model, None, processor, VLMConfig(preset="tiny"))
    pixels = torch.randn(2, 3, 32, 32)
    image = robovlm.image_token_id
    ids = torch.tensor([[5, *[image] * 4, 6, 7], [8, 9, *[image] * 4, 3]])
    mask = torch.ones_like(ids)
    with torch.no_grad():
        tokens = robovlm.encode_images(pixels)
        embeds = robovlm.embed_text(ids).masked_scatter((ids == image).unsqueeze(-1), tokens)
        ours = robovlm.forward_text(embeds, mask)
        own = robovlm.reference_forward(pixels, ids, mask)
    assert robovlm.merge_size == 4 and tokens.shape[1] == robovlm.image_layout(32, 32).tokens == 4
    torch.testing.assert_close(ours, own, atol=1e-5, rtol=0)


def test_the_stand_in_is_checked_against_the_processor() -> None:
    """The PIL processor's pixels for frames of the presets' sides; a side off the merged grid is refused."""
    hf = facts(MiniCPMV4_6ForConditionalGeneration)
    assert hf.sides == {"tiny": 32, "full": 448} and "image_mean=[0.5, 0.5, 0.5]" in hf.processor_args
    tiny = MiniCPMV4_6Config(**(hf.presets or {})["tiny"])
    with pytest.raises(ValueError, match="off MiniCPMV4_6ImageProcessorPil's grid of 16 pixels"):
        navit_stand_in("minicpmv4_6", tiny, [40])


def test_a_torchvision_only_processor_is_checked_on_its_own_code() -> None:
    """MiniCPM-o OCR's processor needs torchvision: its find_best_resize and reshape_by_patch, run from its
    source, leave the frame as it is and pack it as the core does; the full side is its scale_resolution."""
    hf = facts(MiniCPMOcrForConditionalGeneration)
    assert hf.reason is None and hf.navit and hf.sides == {"tiny": 32, "full": 448}
    assert "MiniCPMOcrImageProcessor's mean, std and resampling (it needs torchvision)" in hf.processor_args


def test_canvas_positions_are_refused_with_what_they_read() -> None:
    reason = facts(MiniCPMV4_7ForConditionalGeneration).reason or ""
    assert "canvas" in reason and "</image>" in reason and "TargetSizesBackbone" in reason
