"""The ``llava`` backbone: the conformance suite, plus what is particular to LLaVA-1.5."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from transformers import LlavaForConditionalGeneration, LlavaProcessor

from robovlms.config import Config, VLMConfig
from robovlms.errors import ConfigError
from robovlms.model.backbone import BaseRoboVLM
from robovlms.model.components import build_backbone
from robovlms.model.images import ImageProcessor
from robovlms.testing import BackboneConformance
from robovlms_llava.configuration_llava import image_token_count
from robovlms_llava.modeling_llava import RoboLLaVA

#: llava-hf/llava-1.5-7b-hf's preprocessor_config.json
REFERENCE_PREPROCESSOR = {
    "size": {"shortest_edge": 336},
    "crop_size": {"height": 336, "width": 336},
    "do_resize": True,
    "do_center_crop": True,
    "resample": 3,
    "do_rescale": True,
    "rescale_factor": 1 / 255,
    "do_normalize": True,
    "image_mean": [0.48145466, 0.4578275, 0.40821073],
    "image_std": [0.26862954, 0.26130258, 0.27577711],
    "do_convert_rgb": True,
}


def build(**vlm: object) -> BaseRoboVLM:
    return build_backbone(Config.model_validate({"model": {"backbone": "llava"}, "vlm": {"preset": "tiny", **vlm}}))


def smooth_frame(height: int, width: int) -> np.ndarray:
    """A camera-like frame: resampling filters agree on smooth content, unlike on noise."""
    y, x = np.mgrid[0:height, 0:width] / height
    channels = [np.sin(3 * x + 1), np.cos(4 * y), np.sin(2 * x + 3 * y)]
    return (np.stack(channels, -1) * 120 + 128).astype(np.uint8)


class TestLLaVA(BackboneConformance):
    backbone = "llava"

    def test_tiny_preset_is_small(self, robovlm: BaseRoboVLM) -> None:
        assert sum(p.numel() for p in robovlm.parameters()) < 1_000_000
        assert image_token_count(robovlm.model.config) == 16 and robovlm.image_processor.size == 32

    def test_tokenize_matches_llava_processor(self, robovlm: BaseRoboVLM, frames: np.ndarray) -> None:
        config = robovlm.model.config
        processor = LlavaProcessor(
            image_processor=robovlm.transformers_processor,
            tokenizer=robovlm.tokenizer,
            patch_size=config.vision_config.patch_size,
            vision_feature_select_strategy=config.vision_feature_select_strategy,
            num_additional_image_tokens=1,  # CLIP's CLS, which the "default" strategy then drops
        )
        prompts = [f"USER: <image>\n{text} ASSISTANT:" for text in self.instructions]
        images = [Image.fromarray(f) for f in frames]
        theirs = processor(images=images, text=prompts, padding=True, padding_side="left", return_tensors="pt")
        ours = robovlm.tokenize(self.instructions)
        first = ours["input_ids"].gather(1, (1 - ours["attention_mask"]).sum(dim=1, keepdim=True))
        assert first.flatten().tolist() == [robovlm.tokenizer.bos_token_id] * 2
        assert ours["input_ids"].tolist() == theirs["input_ids"].tolist()
        assert ours["attention_mask"].tolist() == theirs["attention_mask"].tolist()

    def test_max_length_bounds_the_instruction_not_the_placeholders(self) -> None:
        short = build(max_length=4)
        inputs = short.tokenize(self.instructions)
        assert (inputs["input_ids"] == short.image_token_id).sum(dim=1).tolist() == [16, 16]
        assert (
            inputs["attention_mask"].sum(dim=1).tolist() == [len(short.tokenizer(short.prompt("")).input_ids) + 4] * 2
        )
        pixels = short.image_processor(np.zeros((2, 32, 32, 3), np.uint8))
        with torch.no_grad():
            torch.testing.assert_close(
                short(pixels, **inputs), short.reference_forward(pixels, **inputs), atol=1e-4, rtol=0
            )

    def test_suffix_matches_llava_over_the_same_embeddings(
        self, robovlm: BaseRoboVLM, inputs: dict[str, torch.Tensor]
    ) -> None:
        """Action tokens after a left-padded prompt: LlavaModel given the same embeddings agrees."""
        suffix = torch.randn(2, 3, robovlm.hidden_size, generator=torch.Generator().manual_seed(0))
        ids, mask = inputs["input_ids"], inputs["attention_mask"]
        with torch.no_grad():
            ours = robovlm(**inputs, suffix=suffix)
            embeds = torch.cat([robovlm.word_embedding(ids), suffix], dim=1)
            full_mask = torch.cat([mask, mask.new_ones(2, 3)], dim=1)
            theirs = robovlm.model.model(
                inputs_embeds=embeds, pixel_values=inputs["pixel_values"], attention_mask=full_mask
            ).last_hidden_state
        torch.testing.assert_close(ours[full_mask.bool()], theirs[full_mask.bool()], atol=self.fidelity_atol, rtol=0)

    @pytest.mark.parametrize(("layer", "strategy"), [(-1, "full"), (1, "default")])
    def test_checkpoint_feature_layer_and_strategy(
        self, saved: Path, frames: np.ndarray, tmp_path: Path, layer: int, strategy: str
    ) -> None:
        config = json.loads((saved / "config.json").read_text())
        config.update(vision_feature_layer=layer, vision_feature_select_strategy=strategy)
        for name in (
            "config.json",
            "model.safetensors",
            "tokenizer.json",
            "tokenizer_config.json",
            "preprocessor_config.json",
        ):
            (tmp_path / name).write_bytes((saved / name).read_bytes())
        (tmp_path / "config.json").write_text(json.dumps(config))
        robovlm = build_backbone(
            Config.model_validate({"model": {"backbone": "llava"}, "vlm": {"model_name": str(tmp_path)}})
        )
        inputs = {"pixel_values": robovlm.image_processor(frames), **robovlm.tokenize(self.instructions)}
        n = 17 if strategy == "full" else 16
        assert (inputs["input_ids"] == robovlm.image_token_id).sum(dim=1).tolist() == [n, n]
        with torch.no_grad():
            tokens = robovlm.encode_images(inputs["pixel_values"])
            hidden = robovlm.vision_tower(inputs["pixel_values"], output_hidden_states=True).hidden_states[layer]
            by_hand = robovlm.model.model.multi_modal_projector(hidden if strategy == "full" else hidden[:, 1:])
            ours, theirs = robovlm(**inputs), robovlm.reference_forward(**inputs)
        torch.testing.assert_close(tokens, by_hand)
        valid = inputs["attention_mask"].bool()
        torch.testing.assert_close(ours[valid], theirs[valid], atol=self.fidelity_atol, rtol=0)

    def test_image_size_resizes_the_preset(self) -> None:
        config = RoboLLaVA.preset_config("tiny", 48)
        assert config.vision_config.image_size == 48 and image_token_count(config) == 36 == config.image_seq_length
        assert ImageProcessor.from_transformers(RoboLLaVA.preset_image_processor(config)).size == 48
        with pytest.raises(ConfigError, match=r"vlm\.image_size"):
            RoboLLaVA.preset_config("full", 330)


def test_full_preset_is_llava_1_5_7b() -> None:
    config = RoboLLaVA.preset_config("full", None)
    text, vision = config.text_config, config.vision_config
    assert (text.vocab_size, text.hidden_size, text.num_hidden_layers, text.rms_norm_eps) == (32064, 4096, 32, 1e-5)
    assert (vision.hidden_size, vision.num_hidden_layers, vision.image_size, vision.patch_size) == (1024, 24, 336, 14)
    assert (config.image_token_id, text.pad_token_id, config.image_seq_length) == (32000, 32001, 576)
    assert (config.vision_feature_layer, config.vision_feature_select_strategy) == (-2, "default")
    with torch.device("meta"):
        model = LlavaForConditionalGeneration(config)
    assert sum(p.numel() for p in model.parameters()) == 7_063_427_072
    robovlm = RoboLLaVA(
        model, RoboLLaVA.preset_tokenizer(config), RoboLLaVA.preset_image_processor(config), VLMConfig()
    )
    assert robovlm.attribute_problems() == [] and robovlm.hidden_size == 4096
    prompt = robovlm.tokenizer(robovlm.prompt("pick up the red block")).input_ids
    assert prompt.count(32000) == 576 and len(prompt) > VLMConfig().max_length
    assert robovlm.tokenize(["pick up the red block"])["input_ids"].shape == (1, len(prompt))


def test_full_image_processor_is_llava_1_5s() -> None:
    processor = RoboLLaVA.preset_image_processor(RoboLLaVA.preset_config("full", None))
    for key, value in REFERENCE_PREPROCESSOR.items():
        got = getattr(processor, key)
        got = {k: v for k, v in dict(got).items() if v is not None} if isinstance(value, dict) else got
        assert got == pytest.approx(value), key
    ours = ImageProcessor.from_transformers(processor)
    assert (ours.size, ours.center_crop, ours.resample) == (336, True, "bicubic")
    frame = smooth_frame(480, 640)  # 336 x 448 after the resize: no rounding of the long edge
    theirs = processor(images=[Image.fromarray(frame)], return_tensors="pt").pixel_values
    # PIL rounds to uint8 after resizing: a quantisation of 1/255 over std ~0.27
    torch.testing.assert_close(ours(frame), theirs, atol=0.02, rtol=0)
