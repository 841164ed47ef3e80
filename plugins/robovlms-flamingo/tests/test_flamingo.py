"""The conformance suite for the flamingo backbone, plus what is special to Idefics."""

from __future__ import annotations

import torch
from transformers import IdeficsForVisionText2Text, IdeficsImageProcessor

from robovlms.model.backbone import BaseRoboVLM
from robovlms.testing import BackboneConformance
from robovlms_flamingo.configuration_flamingo import preset_config, preset_image_processor, preset_tokenizer


class TestFlamingo(BackboneConformance):
    backbone = "flamingo"

    def test_prompt_has_no_image_tokens_and_the_image_reaches_every_position(
        self, robovlm: BaseRoboVLM, inputs: dict[str, torch.Tensor]
    ) -> None:
        image_ids = robovlm.tokenizer.convert_tokens_to_ids(["<fake_token_around_image>", "<image>"])
        assert not torch.isin(inputs["input_ids"], torch.tensor(image_ids)).any()
        with torch.no_grad():
            base = robovlm(**inputs)
            other = robovlm(**{**inputs, "pixel_values": inputs["pixel_values"].flip(-1)})
        valid = inputs["attention_mask"].bool()
        assert ((base - other).abs().amax(-1)[valid] > 1e-6).all(), "gated cross-attention must reach every token"


def test_full_preset_is_idefics_9b() -> None:
    config = preset_config("full", None)
    with torch.device("meta"):
        model = IdeficsForVisionText2Text(config)
    assert sum(p.numel() for p in model.parameters()) == 8_929_675_280
    assert (config.vocab_size, config.additional_vocab_size, config.cross_layer_interval) == (32000, 2, 4)
    assert (config.vision_config.embed_dim, config.perceiver_config.resampler_n_latents) == (1280, 64)
    assert len(model.model.gated_cross_attn_layers) == 8


def test_tiny_preset_is_under_a_million_parameters() -> None:
    model = IdeficsForVisionText2Text(preset_config("tiny", None))
    assert sum(p.numel() for p in model.parameters()) < 1_000_000


def test_preset_tokenizer_matches_the_config() -> None:
    config = preset_config("tiny", None)
    tokenizer = preset_tokenizer(config)
    assert len(tokenizer) == config.vocab_size + config.additional_vocab_size
    assert tokenizer.convert_tokens_to_ids(["<fake_token_around_image>", "<image>"]) == [
        config.vocab_size,
        config.vocab_size + 1,
    ]
    assert (tokenizer.pad_token_id, tokenizer.bos_token_id, tokenizer.eos_token_id) == (
        config.pad_token_id,
        config.bos_token_id,
        config.eos_token_id,
    )


def test_image_processor_is_idefics_at_the_preset_size() -> None:
    reference = IdeficsImageProcessor()
    tiny = preset_image_processor(preset_config("tiny", None))
    full = preset_image_processor(preset_config("full", None))
    assert (tiny.size.height, full.size.height, reference.size.height) == (32, 224, 224)
    for processor in (tiny, full):
        assert (processor.image_mean, processor.image_std, processor.resample) == (
            reference.image_mean,
            reference.image_std,
            reference.resample,
        )
    assert preset_image_processor(preset_config("tiny", 48)).size.height == 48
