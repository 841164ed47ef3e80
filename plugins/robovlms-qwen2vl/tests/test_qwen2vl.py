"""The conformance suite for the qwen2vl backbone, plus what is special to Qwen-VL: dynamic resolution and M-RoPE."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from transformers import Qwen2_5_VLForConditionalGeneration, Qwen2VLForConditionalGeneration, Qwen2VLImageProcessorPil
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize

from robovlms import build_vla
from robovlms.config import Config
from robovlms.errors import ConfigError, InputError
from robovlms.model.backbone import BaseRoboVLM
from robovlms.model.components import build_backbone
from robovlms.model.images import ImageProcessor, budget_size
from robovlms.testing import BackboneConformance
from robovlms_qwen2vl.configuration_qwen2vl import preset_config


class QwenChecks:
    """What is special to Qwen-VL, for both generations."""

    vlm: ClassVar[dict[str, Any]] = {"preset": "tiny"}

    def test_prompt_follows_the_frame_size(self, robovlm: BaseRoboVLM) -> None:
        """A wider frame gets more image tokens (finding 1): 56x56 is 2x2 tokens, 56x112 is 2x4."""
        square, wide = (robovlm.image_processor(np.zeros((1, *size, 3), np.uint8)) for size in ((56, 56), (56, 112)))
        counts = [
            robovlm.image_slots(robovlm.tokenize(["go"], tuple(px.shape[-2:]))["input_ids"]).sum().item()
            for px in (square, wide)
        ]
        assert counts == [4, 8]
        with torch.no_grad():
            assert robovlm.encode_images(wide).shape[1] == 8

    def test_patches_are_the_image_processors(self, robovlm: BaseRoboVLM) -> None:
        """Qwen's own processor flattens patches in its merge order; ours must give the same rows."""
        frames = np.random.default_rng(1).integers(0, 256, size=(2, 56, 84, 3), dtype=np.uint8)
        theirs = robovlm.transformers_processor(images=list(frames), return_tensors="pt")
        pixels = robovlm.image_processor(frames)
        assert robovlm.grid_thw(pixels).tolist() == theirs["image_grid_thw"].tolist()
        torch.testing.assert_close(robovlm.patchify(pixels), theirs["pixel_values"], atol=2e-2, rtol=0)

    @pytest.mark.parametrize(
        ("mode", "head", "cameras"),
        [("interleaved", "mlp", 1), ("one_step", "mlp", 1), ("policy_head", "lstm", 1), ("interleaved", "mlp", 2)],
    )
    def test_vla_hidden_states_are_qwens_own_over_the_same_sequence(self, mode: str, head: str, cameras: int) -> None:
        """Whatever sequence the VLA builds (later frames' and further cameras' image tokens in blocks of
        their own), Qwen's own forward over the same embeddings, told where its images are, gives the same
        hidden states: the M-RoPE positions are right for every image (finding 2)."""
        config = Config.model_validate(
            {
                "model": {
                    "backbone": "qwen2vl",
                    "action_head": head,
                    "history_mode": mode,
                    "history_length": 3,
                    "action_chunk_size": 2,
                },
                "vlm": self.vlm,
                "data": {"image_keys": [f"observation.images.{i}" for i in range(cameras)]},
            }
        )
        vla = build_vla(config).eval()
        backbone = vla.backbone
        seen: list[dict] = []
        original = backbone.forward_text

        def recording(inputs_embeds, attention_mask, *, image_index, image_layout, **kwargs):  # type: ignore[no-untyped-def]
            seen.append({"embeds": inputs_embeds, "mask": attention_mask, "index": image_index, "layout": image_layout})
            return original(inputs_embeds, attention_mask, image_index=image_index, image_layout=image_layout, **kwargs)

        backbone.forward_text = recording  # type: ignore[method-assign]
        rng = np.random.default_rng(0)
        images = {camera: rng.integers(0, 256, size=(2, 3, 56, 84, 3), dtype=np.uint8) for camera in vla.cameras}
        frame_mask = torch.tensor([[True, True, True], [True, True, False]])
        with torch.no_grad():
            vla(images, ["pick up the red block", "push"], frame_mask)
            call = seen[0]
            index = call["index"]
            images_per_row = int(index.max()) + 1
            assert images_per_row == (3 if mode == "interleaved" else 1) * cameras
            # Qwen's get_rope_index takes a run of image tokens for one image, as its processor puts markers
            # between images; adjacent camera blocks alternate image/video (the same positions at t=1) to part
            grid = backbone.grid_thw(vla.pixels(images).flatten(0, 2)[:1]).expand(len(index) * images_per_row, 3)
            own = backbone.model.model(
                input_ids=torch.where(index >= 0, backbone.image_token_id, 0),
                inputs_embeds=call["embeds"],
                attention_mask=call["mask"],
                mm_token_type_ids=(index >= 0).int() * (1 + index % 2) * call["mask"],
                image_grid_thw=grid,
                video_grid_thw=grid,
                use_cache=False,
            ).last_hidden_state
            ours = original(call["embeds"], call["mask"], image_index=index, image_layout=call["layout"])
        valid = call["mask"].bool()
        torch.testing.assert_close(ours[valid], own[valid], atol=1e-5, rtol=0)


class TestQwen2VL(QwenChecks, BackboneConformance):
    backbone = "qwen2vl"


class TestQwen25VL(QwenChecks):
    """Qwen2.5-VL through the same backbone (its config picks the class); the contract checks that do
    not depend on the generation run once, above."""

    vlm = {"preset": "tiny-2.5"}

    @pytest.fixture(scope="class")
    @classmethod
    def robovlm(cls) -> BaseRoboVLM:
        return build_backbone(Config.model_validate({"model": {"backbone": "qwen2vl"}, "vlm": cls.vlm}))

    def test_fidelity(self, robovlm: BaseRoboVLM) -> None:
        assert type(robovlm.model) is Qwen2_5_VLForConditionalGeneration
        frames = np.random.default_rng(0).integers(0, 256, size=(2, 48, 64, 3), dtype=np.uint8)
        inputs = BackboneConformance.make_inputs(robovlm, frames)
        with torch.no_grad():
            ours, theirs = robovlm(**inputs), robovlm.reference_forward(**inputs)
        valid = inputs["attention_mask"].bool()
        torch.testing.assert_close(ours[valid], theirs[valid], atol=1e-5, rtol=0)


@given(st.integers(8, 2000), st.integers(8, 2000))
def test_pixel_budget_is_smart_resize(height: int, width: int) -> None:
    if max(height, width) / min(height, width) > 200:
        with pytest.raises(InputError, match="aspect ratio"):
            budget_size(height, width, 28, 56 * 56, 28 * 28 * 1280)
        return
    assert budget_size(height, width, 28, 56 * 56, 28 * 28 * 1280) == smart_resize(
        height, width, 28, 56 * 56, 28 * 28 * 1280
    )


def test_checkpoint_processor_keeps_its_pixel_budget() -> None:
    """Qwen2-VL's ``size["shortest_edge"]`` is min_pixels (3136), not a side (finding 4)."""
    processor = ImageProcessor.from_transformers(Qwen2VLImageProcessorPil())
    assert (processor.rule, processor.pixel_budget, processor.factor) == ("pixel_budget", (3136, 1003520), 28)
    frame = np.zeros((480, 640, 3), np.uint8)
    assert tuple(processor(frame).shape[-2:]) == smart_resize(480, 640, 28, 3136, 1003520) == (476, 644)


@pytest.mark.parametrize(
    ("preset", "model_class", "parameters"),
    [
        ("full", Qwen2VLForConditionalGeneration, 2_208_985_600),
        ("full-2.5", Qwen2_5_VLForConditionalGeneration, 3_754_622_976),
    ],
)
def test_full_presets_are_the_reference_checkpoints(preset: str, model_class: type, parameters: int) -> None:
    """Qwen2-VL-2B-Instruct (2.21B parameters) and Qwen2.5-VL-3B-Instruct (3.75B)."""
    config = preset_config(preset, None)
    with torch.device("meta"):
        model = model_class(config)
    assert sum(p.numel() for p in model.parameters()) == parameters


def test_image_size_sets_the_budget() -> None:
    backbone = build_backbone(
        Config.model_validate({"model": {"backbone": "qwen2vl"}, "vlm": {"preset": "tiny", "image_size": 84}})
    )
    assert backbone.image_processor.size == 84


def test_image_size_with_a_checkpoint_is_one_line(tmp_path: Path) -> None:
    """A checkpoint's pixel budget is its own: vlm.image_size cannot fix a size for it."""
    build_backbone(
        Config.model_validate({"model": {"backbone": "qwen2vl"}, "vlm": {"preset": "tiny"}})
    ).save_pretrained(tmp_path)
    config = Config.model_validate(
        {"model": {"backbone": "qwen2vl"}, "vlm": {"model_name": str(tmp_path), "image_size": 56}}
    )
    with pytest.raises(ConfigError, match="pixel budget") as excinfo:
        build_backbone(config)
    assert "\n" not in str(excinfo.value)


def test_cameras_at_different_sizes_are_one_line() -> None:
    config = Config.model_validate(
        {
            "model": {"backbone": "qwen2vl", "action_head": "mlp", "history_mode": "one_step"},
            "vlm": {"preset": "tiny"},
            "data": {"image_keys": ["observation.images.top", "observation.images.wrist"]},
        }
    )
    vla = build_vla(config)
    images = {
        "observation.images.top": np.zeros((1, 1, 56, 56, 3), np.uint8),
        "observation.images.wrist": np.zeros((1, 1, 56, 112, 3), np.uint8),
    }
    with pytest.raises(InputError, match="different sizes") as excinfo:
        vla(images, ["go"])
    assert "\n" not in str(excinfo.value) and "pixel_budget" in str(excinfo.value)
