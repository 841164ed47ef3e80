"""The conformance suite for the paligemma backbone, plus what is special to PaliGemma."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import torch
from transformers import GemmaConfig, PaliGemmaForConditionalGeneration, PaliGemmaProcessor

from robovlms.model.backbone import BaseRoboVLM
from robovlms.testing import BackboneConformance
from robovlms_paligemma.configuration_paligemma import preset_config, preset_image_processor, preset_tokenizer

#: from google/paligemma-3b-pt-224's preprocessor_config.json
REFERENCE_PROCESSOR = {
    "image_processor_type": "SiglipImageProcessor",
    "do_resize": True,
    "size": {"height": 224, "width": 224},
    "resample": 3,  # bicubic
    "do_rescale": True,
    "rescale_factor": 1 / 255,
    "do_normalize": True,
    "image_mean": [0.5, 0.5, 0.5],
    "image_std": [0.5, 0.5, 0.5],
    "image_seq_length": 256,
}


class TestPaliGemma(BackboneConformance):
    backbone = "paligemma"

    def test_prompt_is_paligemma_processors(
        self, robovlm: BaseRoboVLM, inputs: dict[str, torch.Tensor], frames: np.ndarray
    ) -> None:
        """PaliGemmaProcessor builds the prompts PaliGemma was trained on; ours must be token for token the same."""
        tokenizer = copy.deepcopy(robovlm.tokenizer)  # the processor adds its <loc> and <seg> tokens to it
        tokenizer.padding_side = "left"
        processor = PaliGemmaProcessor(image_processor=robovlm.transformers_processor, tokenizer=tokenizer)
        expected = processor(text=self.instructions, images=list(frames), padding="longest", return_tensors="pt")
        assert expected["input_ids"].tolist() == inputs["input_ids"].tolist()
        assert expected["attention_mask"].tolist() == inputs["attention_mask"].tolist()
        assert not expected["token_type_ids"].any(), "a prompt alone is all prefix"

    def test_suffix_attends_causally_and_the_prefix_never_sees_it(
        self, robovlm: BaseRoboVLM, inputs: dict[str, torch.Tensor]
    ) -> None:
        """An action token after the prompt (``prefix_mask`` False) reads the prefix; the prefix cannot read it."""
        suffixes = torch.randn(2, 2, 1, robovlm.hidden_size, generator=torch.Generator().manual_seed(0))
        valid = inputs["attention_mask"].bool()
        with torch.no_grad():
            prompt_only = robovlm(**inputs)
            first, second = (robovlm(**inputs, suffix=suffix) for suffix in suffixes)
        torch.testing.assert_close(first[:, :-1][valid], second[:, :-1][valid], atol=0, rtol=0)
        torch.testing.assert_close(first[:, :-1][valid], prompt_only[valid], atol=1e-5, rtol=0)
        assert (first[:, -1] - second[:, -1]).abs().max() > 1e-3

    def test_each_position_reads_exactly_what_the_prefix_lm_mask_allows(
        self, robovlm: BaseRoboVLM, inputs: dict[str, torch.Tensor]
    ) -> None:
        """Output i depends on input j iff j is in the prefix, or both are in the suffix and j <= i; never on pads."""
        ids, mask = inputs["input_ids"][:1], inputs["attention_mask"][:1]  # the shorter, left-padded instruction
        assert not mask.all()
        with torch.no_grad():
            prompt, _ = robovlm.embed_prompt(inputs["pixel_values"][:1], ids)
        suffix = torch.randn(1, 3, robovlm.hidden_size, generator=torch.Generator().manual_seed(0))
        embeds = torch.cat([prompt, suffix], dim=1).requires_grad_(True)
        attention_mask = torch.cat([mask, mask.new_ones(1, 3)], dim=1)
        prefix_mask = torch.cat([mask.bool(), mask.new_zeros(1, 3, dtype=torch.bool)], dim=1)
        hidden = robovlm.forward_text(embeds, attention_mask, prefix_mask=prefix_mask)[0]
        length = hidden.shape[0]
        grads = [torch.autograd.grad(hidden[i].sum(), embeds, retain_graph=True)[0][0] for i in range(length)]
        reads = torch.stack([grad.abs().sum(-1) > 0 for grad in grads])
        valid, prefix = attention_mask[0].bool(), prefix_mask[0]
        causal = torch.ones(length, length, dtype=torch.bool).tril()
        allowed = (prefix[None, :] | (~prefix[:, None] & causal)) & valid[None, :]
        assert torch.equal(reads[valid], allowed[valid])

    def test_gemma_checkpoint_is_refused(self, tmp_path: Path) -> None:
        """transformers would silently load a plain Gemma checkpoint as a random, default-sized PaliGemma."""
        gemma = GemmaConfig(num_hidden_layers=1, hidden_size=8, intermediate_size=16, num_attention_heads=2)
        gemma.save_pretrained(tmp_path)
        assert "'gemma'" in str(self._load(tmp_path).value)


def test_full_preset_is_paligemma_3b_pt_224() -> None:
    config = preset_config("full", None)
    with torch.device("meta"):
        model = PaliGemmaForConditionalGeneration(config)
    assert sum(p.numel() for p in model.parameters()) == 2_923_466_480
    # the three sizes where transformers' default PaliGemmaConfig() differs from the checkpoint
    assert config.vision_config.intermediate_size == 4304
    assert (config.text_config.vocab_size, config.image_token_id) == (257216, 257152)
    assert (config.text_config.num_image_tokens, config.text_config.head_dim, config.projection_dim) == (256, 256, 2048)
    assert config.text_config.use_bidirectional_attention and config.tie_word_embeddings


def test_tiny_preset_is_under_a_million_parameters() -> None:
    model = PaliGemmaForConditionalGeneration(preset_config("tiny", None))
    assert sum(p.numel() for p in model.parameters()) < 1_000_000


def test_preset_tokenizer_matches_the_config() -> None:
    for preset in ("tiny", "full"):
        config = preset_config(preset, None)
        tokenizer = preset_tokenizer(config)
        assert tokenizer.convert_tokens_to_ids("<image>") == config.image_token_id
        roles = (tokenizer.pad_token_id, tokenizer.eos_token_id, tokenizer.bos_token_id)
        assert roles == (config.pad_token_id, config.eos_token_id, config.bos_token_id) == (0, 1, 2)
        assert max(tokenizer.get_vocab().values()) < config.text_config.vocab_size


def test_image_processor_is_pt_224s_at_the_preset_size() -> None:
    full = json.loads(preset_image_processor(preset_config("full", None)).to_json_string())
    assert {key: full[key] for key in REFERENCE_PROCESSOR} == REFERENCE_PROCESSOR
    tiny = preset_image_processor(preset_config("tiny", None))
    assert (tiny.size, tiny.image_seq_length) == ({"height": 32, "width": 32}, 16)
    larger = preset_image_processor(preset_config("tiny", 48))
    assert (larger.size, larger.image_seq_length) == ({"height": 48, "width": 48}, 36)
