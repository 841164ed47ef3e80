"""The core's PrependedImageBackbone: GIT's image states in front of the text, positions over the text alone."""

from __future__ import annotations

import pytest
import torch
from tiny import tiny_backbone
from transformers import CLIPImageProcessorPil, GitConfig, GitForCausalLM

from robovlms.config import Config
from robovlms.model.components import build_head, head_class, head_spec
from robovlms.model.prepended import PrependedImageBackbone
from robovlms.model.presets import preset_settings
from robovlms.model.vla import VLA
from robovlms.scaffold.prepended import prepended_facts
from robovlms.testing.backbone_suite import assert_matches_own_forward


class Git(PrependedImageBackbone):
    name = "git"
    model_class = GitForCausalLM


@pytest.fixture(scope="module")
def git() -> Git:
    hf = prepended_facts(GitForCausalLM)
    assert hf is not None and hf.presets is not None and hf.prepended
    processor = CLIPImageProcessorPil(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    return tiny_backbone(Git, GitConfig(**preset_settings(hf.presets, "tiny", None)), processor)


def _prompts(git: Git) -> tuple[torch.Tensor, torch.Tensor]:
    """Two prompts, the image first; the second left-padded (GIT counts the padding among its text positions)."""
    image = [git.image_token_id] * git.num_image_tokens
    ids = torch.tensor([[*image, 2, 5, 6, 7], [0, 0, *image, 2, 5]])
    return ids, (ids != 0).long()


def test_prepended_image_matches_gits_own_forward(git: Git) -> None:
    ids, mask = _prompts(git)
    pixels = torch.randn(2, 3, 32, 32)
    assert_matches_own_forward(git, pixels, ids, mask, atol=1e-5)
    assert git.num_image_tokens == 17  # 4 x 4 patches and the class token
    assert git.vision_tower is git.model.git.image_encoder


@pytest.mark.parametrize("mode", ["one_step", "policy_head", "interleaved"])
def test_each_history_mode_sees_what_git_would(git: Git, mode: str) -> None:
    """A window of two frames: each frame's action tokens equal GIT's own forward over its image, the prompt and
    the action tokens (one_step, policy_head); interleaved, frame 0's equal it too (frame 1 comes after), and
    frame 1's see both images while each image's tokens see each other both ways."""
    model = {"backbone": "git", "action_head": "mlp", "history_mode": mode, "history_length": 2}
    config = Config.model_validate({"model": model, "vlm": {"preset": "tiny"}})
    head = build_head(head_class("mlp"), config.action_head, head_spec(config.model, git), 0)
    vla = VLA(config, git, head).eval()
    ids, mask = _prompts(git)
    pixels = torch.randn(2, 2, 3, 32, 32)
    frames = torch.ones(2, 2, dtype=torch.bool)
    with torch.no_grad():
        window = vla.window_features(pixels, {"input_ids": ids, "attention_mask": mask}, frames)
        text = ~git.image_slots(ids)
        words = git.embed_text(ids[text].view(2, -1))
        actions = vla.action_tokens.expand(2, -1, -1)
        own = [
            git.model.git(
                inputs_embeds=torch.cat([words, actions], 1),
                attention_mask=torch.cat([mask[text].view(2, -1), torch.ones(2, actions.shape[1])], 1),
                pixel_values=pixels[:, step],
                use_cache=False,
            ).last_hidden_state[:, -actions.shape[1] :]
            for step in range(2)
        ]
    torch.testing.assert_close(window[:, 0], own[0], atol=1e-5, rtol=0)
    if mode != "interleaved":
        torch.testing.assert_close(window[:, 1], own[1], atol=1e-5, rtol=0)
        return
    assert (window[:, 1] - own[1]).abs().max() > 1e-4  # frame 1's action tokens also see frame 0's image
    sequence = vla.assemble(pixels.unsqueeze(2), {"input_ids": ids, "attention_mask": mask}, frames)
    later = sequence.image_of[0].eq(1).nonzero().flatten()
    changed = sequence.embeds.clone()
    changed[0, later[-1]] += 1.0  # the last token of frame 1's image
    with torch.no_grad():
        before = git.forward_text(sequence.embeds, sequence.mask, image_index=sequence.image_of)
        after = git.forward_text(changed, sequence.mask, image_index=sequence.image_of)
    assert (after[0, later[0]] - before[0, later[0]]).abs().max() > 1e-4  # seen by the image's first token
    assert torch.equal(after[0, : later[0]], before[0, : later[0]])  # never by what comes before
