"""From a config to built components, by the names the config gives."""

from __future__ import annotations

import torch

from robovlms.action_head import BaseActionHead, HeadSpec
from robovlms.backbone import BaseRoboVLM
from robovlms.config import ActionHeadConfig, Config, load_config
from robovlms.normalization import ActionNormalizer
from robovlms.plugins import load
from robovlms.vla import VLA


def build_backbone(config: Config | dict) -> BaseRoboVLM:
    """The backbone that ``config.model.backbone`` names, loaded as ``config.vlm`` says and checked."""
    config = config if isinstance(config, Config) else load_config(config)
    cls = load("backbone", config.model.backbone)
    backbone = cls.from_config(config.vlm)
    backbone.validate_attributes()
    backbone.configure_training(config.training)
    return backbone


def build_head(cls: type[BaseActionHead], config: ActionHeadConfig, spec: HeadSpec, seed: int) -> BaseActionHead:
    """A head with weights drawn from ``seed``, leaving the global random state as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return cls(config, spec)


def build_vla(config: Config | dict, *, normalizer: ActionNormalizer | None = None) -> VLA:
    """The VLA that ``config`` describes: its backbone and head loaded by name from installed plugins."""
    config = config if isinstance(config, Config) else load_config(config)
    head_cls = load("action_head", config.model.action_head or "")
    head_cls.check_mode(config.model.history_mode)
    backbone = build_backbone(config)
    spec = HeadSpec(
        input_size=backbone.hidden_size,
        action_dim=config.model.action_dim,
        chunk_size=config.model.action_chunk_size,
        history_length=config.model.history_length,
        num_action_tokens=config.model.num_action_tokens,
    )
    head = build_head(head_cls, config.action_head, spec, config.training.seed)
    head.requires_grad_(not config.training.freeze_action_head)
    return VLA(config, backbone, head, normalizer)
