"""How ``robovlms new-plugin`` derives presets and image processors from a transformers class, without building models.

The sweep (``tests/test_scaffold_sweep.py``, ``nox -s scaffold_sweep``) shows that the generated plugins
pass; these tests pin the rules behind it on real transformers configs, in milliseconds each.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import transformers

from robovlms.model.images import ImageProcessor
from robovlms.scaffold.buildable import defaults_fail, not_buildable_here
from robovlms.scaffold.hf import facts
from robovlms.scaffold.positioned_patches import positioned_facts
from robovlms.scaffold.processors import grid_departures, grid_stand_in, sibling, torchvision_stand_in
from robovlms.scaffold.shrink import by_ending, dividing_heads, head_grouping, layer_kinds, open_head_dim, open_window


def test_sizes_beyond_the_usual_names_shrink_and_never_grow() -> None:
    text = transformers.Qwen3_5MoeConfig().text_config.to_dict()
    small = by_ending({**text, "num_experts_per_tok": 1, "num_channels": 3, "base_channels": 128})
    assert small["num_experts"] == 4 and small["moe_intermediate_size"] == 128
    assert small["linear_num_value_heads"] == 4 and small["linear_value_head_dim"] == 16
    assert small["base_channels"] == 32  # GroupNorm's 32 groups
    # one expert per token and three colour channels are what the architecture needs
    assert "num_experts_per_tok" not in small and "num_channels" not in small
    assert "max_position_embeddings" not in small  # a limit, not a size
    vq = by_ending(transformers.JanusConfig().vq_config.to_dict())
    assert vq["num_embeddings"] == 64 and vq["channel_multiplier"] == [1, 1]
    # ERNIE 4.5-VL: top-k under its own name, one expert width per modality; HY-V4-VL's learned positions
    ernie = by_ending(transformers.Ernie4_5_VLMoeConfig().text_config.to_dict())
    assert ernie["moe_k"] == 2 and ernie["moe_num_experts"] == 4 and ernie["moe_intermediate_size"] == [128, 128]
    assert by_ending(transformers.HYV4VLConfig().vision_config.to_dict())["max_image_size"] == 64


def test_a_near_zero_initializer_range_gets_a_usual_one() -> None:
    vision = transformers.GotOcr2Config().vision_config
    assert vision.initializer_range < 1e-3 and by_ending(vision.to_dict())["initializer_range"] == 0.02


def test_a_hybrid_language_model_keeps_a_layer_of_each_kind() -> None:
    text = transformers.Qwen3_5Config().text_config
    assert layer_kinds(text, 2) == {"layer_types": ["linear_attention", "full_attention"], "num_hidden_layers": 2}
    assert layer_kinds(transformers.LlavaConfig().text_config, 2) == {}


def test_a_heterogeneous_model_keeps_a_layer_of_each_kind_with_its_own_overrides() -> None:
    # dots3's per_layer_config names layers 2-44 (text) and 25-41 (vision) of the checkpoint
    tiny = facts(transformers.Dots3NoteForConditionalGeneration).presets["tiny"]
    text, vision = tiny["text_config"], tiny["vision_config"]
    assert text["layer_types"] == ["indexed_attention", "indexed_attention", "sliding_attention"]
    assert text["mlp_layer_types"] == ["dense", "sparse", "sparse"]
    # the sliding layer's own heads and ranks, shrunk; its head the sum of its latent and rotary parts
    sliding = text["per_layer_config"]["02"]
    assert {key: sliding[key] for key in ("num_attention_heads", "kv_lora_rank", "qk_nope_head_dim")} == {
        "num_attention_heads": 4,
        "kv_lora_rank": 32,
        "qk_nope_head_dim": 16,
    }
    assert sliding["head_dim"] == sliding["qk_nope_head_dim"] + text["qk_rope_head_dim"]
    assert vision["mlp_layer_types"] == ["dense", "sparse"] and vision["per_layer_config"] == {
        "01": {"num_local_experts": 4}
    }
    config = transformers.Dots3NoteConfig(**tiny)  # its validation passes
    assert config.audio_config.conv_output_size == 64 * 16  # derived from the tiny width, not the checkpoint's 7680


def test_heads_follow_the_checkpoints_rules() -> None:
    # Aya Vision's defaults pair SigLIP's 1152 width with 14 heads, which no model can be built from
    assert dividing_heads(transformers.AyaVisionConfig().vision_config) == {"num_attention_heads": 16}
    assert dividing_heads(transformers.LlavaConfig().vision_config) == {}
    assert open_head_dim(transformers.HunYuanVLConfig().text_config, tiny=False) == {"head_dim": 128}
    # multi-head latent attention: as many key/value heads as query heads
    assert head_grouping(transformers.MistralLarge4Config().text_config, 4) == {"num_key_value_heads": 4}
    # Step 3.7's language model builds a sliding-window mask whatever its layers are
    assert open_window(transformers.Step3p7Config().text_config) == {"sliding_window": 16}


def test_a_model_type_without_a_processor_takes_its_siblings() -> None:
    assert sibling("glm_ocr") == ("glm4v", {"pil": "Glm4vImageProcessorPil", "torchvision": "Glm4vImageProcessor"})
    assert facts(transformers.GlmOcrForConditionalGeneration).processor_class == "Glm4vImageProcessorPil"


def test_a_torchvision_only_processors_rules_are_read_from_its_source() -> None:
    name, args = torchvision_stand_in("cohere2_vision") or ("", "")
    made = eval(f"transformers.{name}({args})", {"transformers": transformers, "size": 40})  # as the preset does
    processor = ImageProcessor.from_transformers(made)
    assert processor.size == 40 and processor.resample == "bicubic"
    assert processor.mean == tuple(transformers.image_utils.OPENAI_CLIP_MEAN)
    assert torchvision_stand_in("llava") is None  # it has a PIL processor


def test_a_torchvision_only_grid_processor_whose_code_is_qwen2_vls_gets_its_pil_processor() -> None:
    name, args, budget = grid_stand_in("minimax_m3_vl") or ("", "", {})
    assert budget == {"shortest_edge": 4 * 28 * 28, "longest_edge": 451584}  # its own, not Qwen2-VL's
    made = eval(f"transformers.{name}({args})", {"transformers": transformers})  # as the preset does
    assert list(made.image_mean) == list(transformers.image_utils.OPENAI_CLIP_MEAN) and made.resample == 3
    assert grid_stand_in("kimi_k25") is None  # its own resizing and padding: no stand-in
    assert "its patchify, _preprocess differ from Qwen2-VL's" in grid_departures("kimi_k25")  # the refusal says so
    assert grid_departures("minimax_m3_vl") == ""
    assert grid_stand_in("qwen2_vl") is None  # it has a PIL processor


def test_refusals_say_what_the_class_is() -> None:
    assert "VQ image tokenizer" in (facts(transformers.Apertus1p5ForConditionalGeneration).reason or "")
    assert "takes no image input at all" in (facts(transformers.Mistral4ForCausalLM).reason or "")
    # Gemma 4 leaves vision_config None: its own vision config class's defaults stand in, at the side its
    # processor gives a square image (16 x 16 patches of 3 x 3 of 16 pixels, 256 of its 280 tokens)
    gemma4 = positioned_facts(transformers.Gemma4ForConditionalGeneration)
    assert gemma4 is not None and gemma4.reason is None and gemma4.presets is not None
    assert gemma4.presets["full"]["vision_config"]["image_size"] == 768

    # Aria's processor pads (robovlms.model.padded): one projector entry per tested resolution, a side's floor
    aria = facts(transformers.AriaForConditionalGeneration)
    assert aria.reason is None and aria.padded and aria.presets is not None
    assert aria.presets["tiny"]["projector_patch_to_query_dict"] == {16: 4, 36: 9}
    assert aria.processor_args == "max_image_size=size, min_image_size=size * 336 // 980"
    # GLM-5 Next's budget of image tokens is a padded pixel budget of as many merged blocks (28 x 28 pixels)
    glm = facts(transformers.Glm5NextForConditionalGeneration)
    assert glm.reason is None and glm.grid and glm.budgets["full"] == (16 * 28**2, 8000 * 28**2)
    assert "max_image_tokens=config.max_pixels // (vision.patch_size * _merge(config)) ** 2" in glm.processor_args
    qwen4 = defaults_fail(transformers.Qwen4ExpForConditionalGeneration) or ""
    assert "leaves settings its architecture needs" in qwen4
    assert defaults_fail(transformers.LlavaForConditionalGeneration) is None


def test_what_cannot_be_built_here_is_told_apart() -> None:
    if importlib.util.find_spec("timm") is None:  # TimmWrapperModel's library (and through it torchvision)
        assert "timm" in (not_buildable_here(transformers.FastVlmForConditionalGeneration) or "")
    assert "reads no images" in (not_buildable_here(transformers.EvollaForProteinText2Text) or "")
    # a text-only class with no encoder at all stays the generator's refusal
    assert not_buildable_here(transformers.Mistral4ForCausalLM) is None


def test_settings_the_defaults_leave_to_the_checkpoint_are_derived() -> None:
    qwen4 = facts(transformers.Qwen4ExpForConditionalGeneration)
    assert qwen4.reason is None and qwen4.presets is not None
    tiny = qwen4.presets["tiny"]["text_config"]
    # one key head (the config's validation requires it), a query head per attention head, as wide
    assert (tiny["indexer_kv_heads"], tiny["indexer_n_heads"], tiny["indexer_head_dim"]) == (1, 4, 16)
    assert tiny["indexer_budget"] % tiny["indexer_compress_ratio"] == 0
    assert (
        qwen4.presets["full"]["text_config"]["indexer_n_heads"]
        == transformers.Qwen4ExpConfig().text_config.num_attention_heads
    )
    # Cohere Compass keeps rotary parameters per kind of layer and its defaults give none: each kind gets the
    # default rotation, and the tiny preset's M-RoPE sections go inside it
    cohere = facts(transformers.CohereCompassForConditionalGeneration)
    assert cohere.presets is not None
    rope = cohere.presets["tiny"]["text_config"]["rope_parameters"]
    assert set(rope) == {"full_attention"} and rope["full_attention"]["rope_type"] == "default"
    assert sum(rope["full_attention"]["mrope_section"]) == 8  # half the tiny head's width of 16


def test_chained_vision_encoders_agree_at_the_sams_resolution() -> None:
    # DeepSeek-OCR 2 and Unlimited OCR: a SAM reads the pixels, a second encoder its output; the resolution is
    # the SAM's, the encoder as wide as the SAM's last downsampling
    presets: dict[type, dict[str, dict[str, Any]]] = {}
    for cls in (transformers.DeepseekOcr2ForConditionalGeneration, transformers.UnlimitedOcrForConditionalGeneration):
        found = facts(cls)
        assert found.reason is None and found.presets is not None and found.sized == "vision_config.sam_config"
        presets[cls] = found.presets
        for settings in found.presets.values():
            sam, encoder = settings["vision_config"]["sam_config"], settings["vision_config"]["encoder_config"]
            assert encoder["hidden_size"] == sam["downsample_channels"][-1]
        tiny = found.presets["tiny"]["vision_config"]["sam_config"]
        assert (tiny["image_size"], tiny["patch_size"], tiny["global_attn_indexes"]) == (32, 4, [1])
    # Unlimited OCR's CLIP keeps a position table of its own: the SAM's output grid (8 patches, halved twice)
    clip = presets[transformers.UnlimitedOcrForConditionalGeneration]["tiny"]["vision_config"]["encoder_config"]
    assert clip["image_size"] // clip["patch_size"] == 2
    # DeepSeek-OCR 2's MoE language model: the settings its defaults leave None, as its docstring describes them
    text = presets[transformers.DeepseekOcr2ForConditionalGeneration]["tiny"]["text_config"]
    assert text["mlp_layer_types"] == ["dense", "sparse"] and text["num_experts_per_tok"] <= text["n_routed_experts"]
