"""Every installed backbone with every head in every history mode the head allows."""

from __future__ import annotations

import pytest
import torch
from conftest import BACKBONES, HEADS, tiny_config, tiny_vla

from robovlms import ConfigError, build_backbone, build_vla
from robovlms.plugins.loading import load

COMBOS = [(b, h, m) for b in BACKBONES for h in HEADS for m in load("action_head", h).history_modes]
REFUSED = [
    (h, m)
    for h in HEADS
    for m in ("one_step", "interleaved", "policy_head")
    if m not in load("action_head", h).history_modes
]


@pytest.mark.parametrize(("backbone", "head", "mode"), COMBOS)
def test_trains_and_predicts(backbone, head, mode, batch):
    vla = tiny_vla(backbone, head, mode).train()
    out = vla(**batch)
    assert out["prediction"].shape[:2] == (2, 3)
    if not vla.head.stochastic:  # a sampling head's prediction is its context; predict() below gives its chunks
        assert out["prediction"].shape[2] == 4
    assert torch.isfinite(out["loss"])
    out["loss"].backward()
    assert vla.action_tokens.grad is not None and vla.action_tokens.grad.abs().sum() > 0
    assert all(p.grad is not None for p in vla.head.parameters() if p.requires_grad)
    actions = vla.eval().predict(batch["images"], batch["instructions"])
    assert actions.shape == (2, 3, 4, 7)
    assert set(actions[..., -1].unique().tolist()) <= {-1.0, 1.0}


@pytest.mark.parametrize(("head", "mode"), REFUSED)
def test_head_and_mode_that_cannot_go_together_are_refused(head, mode):
    with pytest.raises(ConfigError) as excinfo:
        build_vla(tiny_config("paligemma", head, mode))
    message = str(excinfo.value)
    assert message.startswith(f"model.history_mode: action head {head!r} cannot serve {mode!r}") and "\n" not in message


def test_padded_steps_do_not_count(batch):
    vla = tiny_vla("paligemma", "mlp", "one_step")
    base = vla(**batch)["loss"]
    padded = batch["actions"].clone()
    padded[1, 2] += 5.0  # a padding frame after the episode's end
    padded[1, 1, 3] += 5.0  # a chunk step after the episode's end
    torch.testing.assert_close(vla(**dict(batch, actions=padded))["loss"], base)
    real = batch["actions"].clone()
    real[1, 1, 0] += 5.0
    assert not torch.allclose(vla(**dict(batch, actions=real))["loss"], base)


def test_interleaved_frames_see_only_the_past(batch):
    vla = tiny_vla("llava", "mlp", "interleaved")
    with torch.no_grad():
        base = vla(batch["images"], batch["instructions"])["prediction"]
        images = batch["images"].copy()
        images[:, 2] = 255 - images[:, 2]
        changed = vla(images, batch["instructions"])["prediction"]
    torch.testing.assert_close(changed[:, :2], base[:, :2])
    assert not torch.allclose(changed[:, 2], base[:, 2])


@pytest.mark.parametrize("backbone", BACKBONES)
def test_overfits_a_small_fixed_batch(backbone, batch):
    torch.manual_seed(0)
    vla = tiny_vla(backbone, "lstm", "policy_head").train()
    optimizer = torch.optim.AdamW([p for p in vla.parameters() if p.requires_grad], lr=3e-3)
    losses = []
    for _ in range(150):
        loss = vla(**batch)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] <= 0.1 * losses[0], f"{losses[0]:.4f} -> {losses[-1]:.4f}"


@pytest.mark.parametrize("backbone", BACKBONES)
def test_builds_by_name_from_a_saved_local_directory(backbone, batch, tmp_path):
    tiny_vla(backbone, "mlp", "one_step").backbone.save_pretrained(tmp_path / backbone)
    config = tiny_config(backbone, "mlp", "one_step").model_dump()
    config["vlm"] = {"model_name": str(tmp_path / backbone)}
    vla = build_vla(config)
    assert vla.predict(batch["images"], batch["instructions"]).shape == (2, 3, 4, 7)


def test_lora_trains_adapters_only_and_saves_merged_weights(batch, tmp_path):
    from robovlms import VLA

    config = tiny_config("paligemma", "lstm", "policy_head").model_dump()
    config["training"].update(lora_rank=4, freeze_vision_tower=True)
    vla = build_vla(config)
    text = dict(vla.backbone.text_tower.named_parameters())
    adapters = [p for n, p in text.items() if ".lora_" in n]
    assert adapters and all(p.requires_grad for p in adapters)
    embedding = {id(p) for p in vla.backbone.word_embedding.parameters()}  # follows training.freeze_embeddings
    assert not any(p.requires_grad for n, p in text.items() if ".lora_" not in n and id(p) not in embedding)
    vla.train()
    optimizer = torch.optim.AdamW([p for p in vla.parameters() if p.requires_grad], lr=1e-2)
    for _ in range(3):
        loss = vla(**batch)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert any(p.abs().sum() > 0 for n, p in text.items() if "lora_B" in n), "the adapters learned"
    vla.eval().save_pretrained(tmp_path / "lora")
    loaded = VLA.from_pretrained(tmp_path / "lora")
    torch.testing.assert_close(
        loaded.predict(batch["images"], batch["instructions"]), vla.predict(batch["images"], batch["instructions"])
    )


def test_lora_without_peft_names_the_extra(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "peft", None)
    config = tiny_config("paligemma", "lstm", "policy_head").model_dump()
    config["training"]["lora_rank"] = 4
    with pytest.raises(ConfigError, match=r"pip install 'robovlms\[lora\]'"):
        build_vla(config)


def test_freezing_the_head():
    config = tiny_config("paligemma", "lstm", "policy_head").model_dump()
    config["training"]["freeze_action_head"] = True
    vla = build_vla(config)
    assert not any(p.requires_grad for p in vla.head.parameters())
    assert vla.action_tokens.requires_grad


def test_processor_is_a_deprecated_alias_of_transformers_processor() -> None:
    """Plugin API 1.0's name for the checkpoint's transformers image processor still works, and warns."""
    backbone = build_backbone({"model": {"backbone": "paligemma"}, "vlm": {"preset": "tiny"}})
    with pytest.warns(DeprecationWarning, match="transformers_processor"):
        assert backbone.processor is backbone.transformers_processor
