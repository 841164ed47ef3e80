"""A VLA's two plugin components, built by the names a config gives: the backbone and the head."""

from __future__ import annotations

import torch

from robovlms.config import ActionHeadConfig, Config, ModelConfig, load_config
from robovlms.errors import PluginError
from robovlms.model.action_head import BaseActionHead, HeadSpec
from robovlms.model.backbone import BaseRoboVLM
from robovlms.plugins.kinds import ACTION_HEAD, BACKBONE, Component, ComponentKind
from robovlms.plugins.loading import load


def _load(kind: ComponentKind, name: str, setting: str) -> type[Component]:
    try:
        return load(kind, name)
    except PluginError as exc:
        raise PluginError(f"{setting}: {exc}") from None  # which key of the config named it


def backbone_class(name: str) -> type[BaseRoboVLM]:
    """The installed backbone class called ``name`` (``model.backbone``), loaded through its entry point."""
    cls = _load(BACKBONE, name, "model.backbone")
    if not issubclass(cls, BaseRoboVLM):  # a Component of this kind that does not derive the contract
        raise PluginError(f"backbone {name!r}: {cls.__qualname__} does not subclass robovlms.BaseRoboVLM")
    return cls


def head_class(name: str) -> type[BaseActionHead]:
    """The installed action-head class called ``name`` (``model.action_head``), loaded through its entry point."""
    cls = _load(ACTION_HEAD, name, "model.action_head")
    if not issubclass(cls, BaseActionHead):
        raise PluginError(f"action head {name!r}: {cls.__qualname__} does not subclass robovlms.BaseActionHead")
    return cls


def build_backbone(config: Config | dict) -> BaseRoboVLM:
    """The backbone that ``config.model.backbone`` names, loaded as ``config.vlm`` says and checked."""
    config = config if isinstance(config, Config) else load_config(config)
    backbone = backbone_class(config.model.backbone).from_config(config.vlm)
    backbone.validate_attributes()
    backbone.configure_training(config.training)
    return backbone


def head_spec(model: ModelConfig, backbone: BaseRoboVLM) -> HeadSpec:
    """The shapes a head is built for: the backbone's width and the ``model`` section's sizes."""
    return HeadSpec(
        input_size=backbone.hidden_size,
        action_dim=model.action_dim,
        chunk_size=model.action_chunk_size,
        history_length=model.history_length,
        num_action_tokens=model.num_action_tokens,
    )


def build_head(cls: type[BaseActionHead], config: ActionHeadConfig, spec: HeadSpec, seed: int) -> BaseActionHead:
    """A head with weights drawn from ``seed``, leaving the global random state as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return cls(config, spec)
