"""From a config to built components, by the names the config gives."""

from __future__ import annotations

from robovlms.backbone import BaseRoboVLM
from robovlms.config import Config, load_config
from robovlms.plugins import load


def build_backbone(config: Config | dict) -> BaseRoboVLM:
    """The backbone that ``config.model.backbone`` names, loaded as ``config.vlm`` says and checked."""
    config = config if isinstance(config, Config) else load_config(config)
    cls = load("backbone", config.model.backbone)
    backbone = cls.from_config(config.vlm)
    backbone.validate_attributes()
    backbone.configure_training(config.training)
    return backbone
