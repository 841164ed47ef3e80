"""The core's InstructedQFormerBackbone: InstructBLIP's Q-Former reads each prompt's instruction too."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from tiny import tiny_backbone
from transformers import (
    InstructBlipConfig,
    InstructBlipForConditionalGeneration,
    InstructBlipVideoForConditionalGeneration,
    SiglipImageProcessorPil,
)

from robovlms.config import VLMConfig
from robovlms.errors import CheckpointError
from robovlms.model.qformer import InstructedQFormerBackbone
from robovlms.model.tokenization import local_tokenizer
from robovlms.scaffold.hf import facts
from robovlms.testing.backbone_suite import assert_matches_own_forward


class InstructBlip(InstructedQFormerBackbone):
    name = "instructblip"
    model_class = InstructBlipForConditionalGeneration


@pytest.fixture(scope="module")
def instructblip() -> InstructBlip:
    presets = facts(InstructBlipForConditionalGeneration).presets
    assert presets is not None
    config = InstructBlipConfig(**presets["tiny"])
    specials = {"<pad>": config.text_config.pad_token_id, "<image>": config.image_token_id}
    tokenizer = local_tokenizer(config.text_config.vocab_size, specials, pad_token="<pad>")
    processor = SiglipImageProcessorPil(size={"height": 32, "width": 32})
    return tiny_backbone(InstructBlip, config, processor, tokenizer=tokenizer)


def prompts(backbone: InstructBlip, instructions: list[str]) -> dict[str, torch.Tensor]:
    image = "<image>" * backbone.model.config.num_query_tokens
    backbone.tokenizer.padding_side = "left"
    return dict(backbone.tokenizer([f"{image}\n{text}" for text in instructions], padding=True, return_tensors="pt"))


def test_image_tokens_read_the_instruction_as_instructblips_own_forward(instructblip: InstructBlip) -> None:
    """The same frame under two instructions gives two sets of image tokens, and robovlms's forward equals
    InstructBLIP's own with the same Q-Former ids (the second prompt is left-padded)."""
    frame = torch.randn(1, 3, 32, 32)
    pixels = frame.expand(2, -1, -1, -1)
    encoded = prompts(instructblip, ["pick up the red block", "push it"])
    ids, mask = encoded["input_ids"], encoded["attention_mask"]
    assert instructblip.instructions(ids) == ["pick up the red block", "push it"]
    with torch.no_grad():
        _, tokens = instructblip.embed_prompt(pixels, ids)
        bare = instructblip.encode_images(frame)
    assert not torch.allclose(tokens[0], tokens[1], atol=1e-4)
    assert not torch.allclose(bare[0], tokens[0], atol=1e-4)  # encode_images alone: the empty instruction
    assert_matches_own_forward(instructblip, pixels, ids, mask, atol=1e-5)


def test_the_qformer_tokenizer_travels_with_the_checkpoint(instructblip: InstructBlip, tmp_path: Path) -> None:
    instructblip.save_pretrained(tmp_path)
    loaded = instructblip.load_qformer_tokenizer(VLMConfig(model_name=str(tmp_path)))
    assert loaded("push it")["input_ids"] == instructblip.qformer_tokenizer("push it")["input_ids"]
    for saved in (tmp_path / "qformer_tokenizer").iterdir():
        saved.unlink()
    with pytest.raises(CheckpointError, match="qformer_tokenizer/ folder"):
        instructblip.load_qformer_tokenizer(VLMConfig(model_name=str(tmp_path)))


def test_new_plugin_writes_both_instructblips_on_it() -> None:
    """The facts new-plugin renders InstructedQFormerBackbone from; the clip model's placeholder is the image one."""
    still, clips = facts(InstructBlipForConditionalGeneration), facts(InstructBlipVideoForConditionalGeneration)
    assert still.reason is None and still.instructed and clips.reason is None and clips.instructed
    assert clips.presets is not None
    assert clips.presets["tiny"]["video_token_id"] == clips.presets["tiny"]["image_token_id"]
