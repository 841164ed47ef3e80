"""The core's grid backbones: patches in the processor's order, DeepStack features at their images' positions."""

from __future__ import annotations

import pytest
import torch
from tiny import tiny_backbone
from transformers import (
    Cosmos3EdgeConfig,
    HunYuanVLConfig,
    PaddleOCRVLConfig,
    Qwen2VLConfig,
    Qwen2VLImageProcessorPil,
    Qwen3VLConfig,
    Qwen3VLForConditionalGeneration,
)

from robovlms.config import VLMConfig
from robovlms.model.deepstack import DeepStackBackbone
from robovlms.model.grid import GridBackbone
from robovlms.model.mrope import MRoPEBackbone
from robovlms.model.sequence import ImageLayout
from robovlms.scaffold.hf import facts
from robovlms.scaffold.patches import patch_layout
from robovlms.testing.backbone_suite import assert_matches_own_forward


class Qwen3VL(DeepStackBackbone):
    name = "qwen3vl"
    model_class = Qwen3VLForConditionalGeneration


def test_images_far_apart_get_their_own_deepstack_features() -> None:
    """Three images per row, text between them (the interleaved history's layout): robovlms's language
    pass equals Qwen3-VL's own forward over the same tokens, which places DeepStack features itself."""
    presets = facts(Qwen3VLForConditionalGeneration).presets
    assert presets is not None
    processor = Qwen2VLImageProcessorPil(merge_size=2, patch_size=8)
    robovlm = tiny_backbone(Qwen3VL, Qwen3VLConfig(**presets["tiny"]), processor)
    model = robovlm.model
    pixels = torch.randn(6, 3, 32, 32)  # 2 rows of 3 images, 2 x 2 tokens each
    image = robovlm.image_token_id
    row = [5, 6, *[image] * 4, 7, *[image] * 4, 8, 9, *[image] * 4, 10]
    ids = torch.tensor([row, row[::-1]])
    index = torch.full_like(ids, -1)
    for r in range(2):
        slots = (ids[r] == image).nonzero().flatten()
        index[r, slots] = torch.arange(3).repeat_interleave(4)
    mask = torch.ones_like(ids)
    with torch.no_grad():
        tokens = robovlm.encode_images(pixels)
        embeds = robovlm.embed_text(ids).masked_scatter((ids == image).unsqueeze(-1), tokens)
        ours = robovlm.forward_text(embeds, mask, image_index=index, image_layout=robovlm.layout_of(pixels))
        without = MRoPEBackbone.forward_text(
            robovlm, embeds, mask, image_index=index, image_layout=robovlm.layout_of(pixels)
        )
        own = model.model(
            input_ids=ids,
            attention_mask=mask,
            pixel_values=robovlm.patchify(pixels),
            image_grid_thw=robovlm.grid_thw(pixels),
            mm_token_type_ids=(ids == image).int(),
            use_cache=False,
        ).last_hidden_state
    torch.testing.assert_close(ours, own, atol=1e-5, rtol=0)
    assert (without - own).abs().max() > 1e-3  # the DeepStack features matter: without them, another result
    assert robovlm._deepstack is None  # one encoding serves one pass


def test_grid_backbone_without_images_numbers_positions_as_text() -> None:
    presets = facts(Qwen3VLForConditionalGeneration).presets
    assert presets is not None
    model = Qwen3VLForConditionalGeneration(Qwen3VLConfig(**presets["tiny"])).eval()
    robovlm = Qwen3VL(model, None, Qwen2VLImageProcessorPil(merge_size=2, patch_size=8), VLMConfig(preset="tiny"))
    embeds, mask = torch.randn(1, 5, robovlm.hidden_size), torch.ones(1, 5, dtype=torch.long)
    with torch.no_grad():
        plain = GridBackbone.forward_text(robovlm, embeds, mask)
        told = robovlm.forward_text(
            embeds, mask, image_index=torch.full((1, 5), -1), image_layout=robovlm.layout_of(torch.zeros(1, 3, 32, 32))
        )
    torch.testing.assert_close(plain, told, atol=1e-5, rtol=0)


@pytest.mark.parametrize(
    ("processor", "config", "layout"),
    [
        ("Qwen2VLImageProcessorPil", Qwen2VLConfig, "merged"),
        ("Cosmos3EdgeImageProcessorPil", Cosmos3EdgeConfig, "merged_hwc"),
        ("HunYuanVLImageProcessorPil", HunYuanVLConfig, "rows_flat"),
        ("PaddleOCRVLImageProcessorPil", PaddleOCRVLConfig, "rows"),
    ],
)
def test_patch_layout_is_the_processors_own(processor: str, config: type, layout: str) -> None:
    """Processors lay patches out by merged block (Qwen's) or row by row, each patch channels first or
    last: the generator finds out by running each."""
    vision = config().vision_config
    assert patch_layout(processor, vision, vision.spatial_merge_size) == layout


def test_a_patch_order_robovlms_does_not_know_says_what_to_write(monkeypatch: pytest.MonkeyPatch) -> None:
    original = Qwen2VLImageProcessorPil.patchify

    def reversed_patches(self, image, patch_size, merge_size, temporal_patch_size):  # type: ignore[no-untyped-def]
        flat, rows, columns = original(self, image, patch_size, merge_size, temporal_patch_size)
        return flat[::-1].copy(), rows, columns

    monkeypatch.setattr(Qwen2VLImageProcessorPil, "patchify", reversed_patches)
    with pytest.raises(
        ValueError,
        match=r"in an order robovlms does not know \(it knows merged, merged_hwc, rows_flat, rows\): write patchify",
    ):
        patch_layout("Qwen2VLImageProcessorPil", Qwen2VLConfig().vision_config, 2)


@pytest.mark.parametrize("thinker", ["Qwen2_5OmniThinker", "Qwen3OmniMoeThinker"])
def test_positions_laid_out_by_get_rope_index_equal_the_models_own(thinker: str) -> None:
    """The Omni thinkers find images by the vision_start marker before them: robovlms's positions for two
    images with text between equal their get_rope_index over the same tokens (Qwen3-Omni's gives floats), and
    Qwen3-Omni's encoding keeps the DeepStack features its language model takes."""
    import transformers

    from robovlms.model.rope_index import RopeIndexBackbone
    from robovlms.model.rope_index_deepstack import RopeIndexDeepStackBackbone

    model_class = getattr(transformers, f"{thinker}ForConditionalGeneration")
    base = RopeIndexDeepStackBackbone if thinker.startswith("Qwen3") else RopeIndexBackbone
    robovlm_class = type("Thinker", (base,), {"name": "thinker", "model_class": model_class})
    presets = facts(model_class).presets
    assert presets is not None
    config = getattr(transformers, f"{thinker}Config")(**presets["tiny"])
    robovlm = tiny_backbone(robovlm_class, config, Qwen2VLImageProcessorPil(merge_size=2, patch_size=8), seed=None)
    model = robovlm.model
    pixels = torch.randn(2, 3, 32, 64)  # 2 x 4 tokens each
    image, start = robovlm.image_token_id, model.config.vision_start_token_id
    ids = torch.tensor([[5, start, *[image] * 8, 6, 7, start, *[image] * 8, 8, 9]])
    index = torch.full_like(ids, -1)
    index[ids == image] = torch.arange(2).repeat_interleave(8)
    mask = torch.ones_like(ids)
    ours = robovlm.rope_positions(index, mask, robovlm.layout_of(pixels))
    own, _ = model.model.get_rope_index(ids, robovlm.grid_thw(pixels), None, mask)
    assert torch.equal(ours, own.long())
    if base is RopeIndexDeepStackBackbone:
        with torch.no_grad():
            robovlm.model_encode_images(pixels)
        assert robovlm._deepstack is not None and robovlm._deepstack[0].shape[:2] == (2, 8)


def test_hunyuan_vl_tokens_and_ordinal_positions_equal_the_models_own() -> None:
    """HunYuan-VL's encoder ends each merged row with a newline and wraps the image in begin and end tokens
    (the probe reads both off it), and robovlms's positions for two rows with an image each equal its
    get_rope_index (text 1-D, the image's grid by column, row and ordinal across the batch)."""
    from transformers import HunYuanVLForConditionalGeneration

    from robovlms.model.ordinal_rope import OrdinalRoPEBackbone
    from robovlms.scaffold.row_tokens import extra_tokens

    class HunYuan(OrdinalRoPEBackbone):
        name = "hunyuan"
        model_class = HunYuanVLForConditionalGeneration
        row_end_tokens, image_end_tokens = 1, 2

    presets = facts(HunYuanVLForConditionalGeneration).presets
    assert presets is not None
    processor = Qwen2VLImageProcessorPil(merge_size=2, patch_size=8)
    robovlm = tiny_backbone(HunYuan, HunYuanVLConfig(**presets["tiny"]), processor, seed=None)
    model = robovlm.model
    assert extra_tokens(model) == (1, 2)
    pixels = torch.randn(2, 3, 32, 64)  # 2 x 4 merged blocks: 2 rows of 5 tokens and the 2 ends
    layout = robovlm.layout_of(pixels)
    assert layout.tokens == 12
    image = robovlm.image_token_id
    ids = torch.tensor([[5, *[image] * 12, 6, 7], [8, 9, *[image] * 12, 10]])
    index = torch.full_like(ids, -1)
    index[ids == image] = 0
    mask = torch.ones_like(ids)
    ours = robovlm.rope_positions(index, mask, layout)
    own, _ = model.model.get_rope_index(ids, (ids == image).int(), robovlm.grid_thw(pixels), mask)
    assert torch.equal(ours, own)


def test_nemotron_omni_patches_and_image_grid_hw_equal_its_own_forward() -> None:
    """NemotronH Omni keeps its parts at its top level and takes raster patches with ``image_grid_hw``: robovlms's
    forward over the contract (image tokens merged by the pixel shuffle of its downsample_ratio) gives the
    final states of the VLM's own forward, for two frames and prompts of different lengths; the patches are
    its processor's (the generator's facts run that processor from source against them)."""
    from transformers import NemotronH_Omni_Reasoning_V3, SiglipImageProcessorPil

    from robovlms.model.patch_grid import PatchGridBackbone
    from robovlms.model.tokenization import local_tokenizer

    class Nemotron(PatchGridBackbone):
        name = "nemotron"
        model_class = NemotronH_Omni_Reasoning_V3

        def prompt(self, instruction: str, image: ImageLayout) -> str:  # type: ignore[override]
            return f"<bos>{'<image>' * (image.tokens or 0)}\n{instruction}"

    found = facts(NemotronH_Omni_Reasoning_V3)  # its processor's own _preprocess ran against PatchGridBackbone's
    assert found.reason is None and found.patch_grid and found.presets is not None
    presets = found.presets
    config = NemotronH_Omni_Reasoning_V3.config_class(**presets["tiny"])
    specials = {"<pad>": 0, "<eos>": 1, "<bos>": 2, "<image>": config.image_token_id}
    tokenizer = local_tokenizer(320, specials, pad_token="<pad>", eos_token="<eos>", bos_token="<bos>")
    processor = SiglipImageProcessorPil(size={"height": 8, "width": 8})
    vlm = VLMConfig(preset="tiny", image_size=8)
    robovlm = tiny_backbone(Nemotron, config, processor, tokenizer=tokenizer, vlm=vlm)
    pixels = torch.randn(2, 3, 8, 8)  # 8 x 8 patches of one pixel: 4 x 4 image tokens each
    prompts = robovlm.prompts_for(["pick up the red block", "push it"], (8, 8))
    assert int((prompts["input_ids"] == robovlm.image_token_id).sum()) == 2 * 16
    assert_matches_own_forward(robovlm, pixels, **prompts, atol=1e-4)
