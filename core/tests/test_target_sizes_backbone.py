"""MiniCPM-V's NaViT-packed images with target_sizes (robovlms.model.target_sizes): the packing its own
processor makes, robovlms's pass over a batch of two frames equal to the VLM's own forward, and 4.7's canvas
M-RoPE positions (robovlms.model.canvas_rope) equal to its own get_rope_index."""

from __future__ import annotations

import pytest
import torch
from tiny import tiny_backbone
from transformers import (
    MiniCPMOcrForConditionalGeneration,
    MiniCPMV4_6Config,
    MiniCPMV4_6ForConditionalGeneration,
    MiniCPMV4_7Config,
    MiniCPMV4_7ForConditionalGeneration,
    SiglipImageProcessorPil,
)

from robovlms.config import VLMConfig
from robovlms.model.canvas_rope import CanvasRoPEBackbone
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
    processor = SiglipImageProcessorPil(size={"height": 32, "width": 32})
    robovlm = tiny_backbone(MiniCPMV, MiniCPMV4_6Config(**hf.presets["tiny"]), processor)
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


class MiniCPMV47(CanvasRoPEBackbone):
    name = "minicpmv47"
    model_class = MiniCPMV4_7ForConditionalGeneration


def test_canvas_positions_are_the_models_own() -> None:
    """The prompt's image between its markers, then an image the VLA appends (after text, before text), the
    second row padded on the left: MiniCPM-V 4.7's canvas positions from its own get_rope_index over the same
    tokens, and robovlms's pass equal to its forward."""
    hf = facts(MiniCPMV4_7ForConditionalGeneration)
    assert hf.reason is None and hf.canvas and hf.presets is not None
    processor = SiglipImageProcessorPil(size={"height": 32, "width": 32})
    robovlm = tiny_backbone(MiniCPMV47, MiniCPMV4_7Config(**hf.presets["tiny"]), processor, vlm=VLMConfig())
    model = robovlm.model
    image, start, end = robovlm.image_token_id, model.config.image_start_id, model.config.image_end_id
    row = [5, start, *[image] * 4, end, 6, 7, 8, *[image] * 4, 3, 9]
    ids = torch.tensor([row, [0, 0, *row[:-2]]])
    mask = torch.ones_like(ids)
    mask[1, :2] = 0
    index = torch.full_like(ids, -1)
    for r in range(2):
        index[r, ids[r] == image] = torch.arange(2).repeat_interleave(4)
    pixels = torch.randn(4, 3, 32, 32)
    layout = robovlm.layout_of(pixels)
    with torch.no_grad():
        own_positions, _ = model.model.get_rope_index(
            ids, (ids == image).int(), robovlm.target_sizes(pixels), attention_mask=mask
        )
        tokens = robovlm.encode_images(pixels).reshape(2, 8, -1)
        embeds = robovlm.embed_text(ids).masked_scatter((ids == image).unsqueeze(-1), tokens)
        ours = robovlm.forward_text(embeds, mask, image_index=index, image_layout=layout)
        own = model.model(
            input_ids=ids,
            attention_mask=mask,
            pixel_values=robovlm.patchify(pixels),
            target_sizes=robovlm.target_sizes(pixels),
            mm_token_type_ids=(ids == image).int(),
            use_cache=False,
        ).last_hidden_state
    assert torch.equal(robovlm.canvas_positions(index, mask, layout), own_positions)
    torch.testing.assert_close(ours[mask.bool()], own[mask.bool()], atol=1e-5, rtol=0)
