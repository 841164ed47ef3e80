"""A trained VLA on disk: what its folder holds, and the checks that keep a wrong one from loading.

Layout of a VLA folder (no pickle anywhere):

- ``config.json``: the resolved config
- ``plugins.json``: name, distribution and version of the backbone and head plugins, and the core's
- ``backbone/``: the VLM in transformers format (weights, tokenizer, image processor)
- ``vla.safetensors``: everything else (action tokens, action head, robot-state encoder)
- ``normalization.json``: the action statistics applied in training

This module reads and writes those files; :class:`robovlms.model.vla.VLA` puts a model together
from them.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from robovlms.config import Config, config_from_dict
from robovlms.errors import CheckpointError, ConfigError, PluginError
from robovlms.plugins.discovery import discover
from robovlms.plugins.kinds import ACTION_HEAD, BACKBONE, ComponentKind, Status
from robovlms.version import __version__

FILES = ("config.json", "plugins.json", "vla.safetensors", "normalization.json", "backbone/config.json")
BACKBONE_FOLDER = "backbone"
WEIGHTS = "vla.safetensors"
NORMALIZATION = "normalization.json"
#: the kinds recorded in plugins.json, under their keys
_RECORDED = (BACKBONE, ACTION_HEAD)


def _plugin_record(kind: ComponentKind, name: str) -> dict[str, str]:
    info = next(p for p in discover(kind) if p.name == name and p.status is Status.OK)
    return {"name": name, "distribution": info.distribution, "version": info.version}


def write_metadata(directory: Path, config: Config) -> None:
    """``config.json`` and ``plugins.json``: what a loader needs before it builds anything."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(config.model_dump_json(indent=2))
    names = {BACKBONE: config.model.backbone, ACTION_HEAD: config.model.action_head}
    plugins = {"robovlms": __version__, **{kind.key: _plugin_record(kind, names[kind]) for kind in _RECORDED}}
    (directory / "plugins.json").write_text(json.dumps(plugins, indent=2))


def write_weights(directory: Path, tensors: dict[str, torch.Tensor]) -> None:
    save_file({k: v.detach().contiguous() for k, v in tensors.items()}, str(directory / WEIGHTS))


def compatible(saved: str, installed: str) -> bool:
    """Whether a plugin version can load what another one saved: same major (same minor below 1.0)."""
    try:
        version = Version(saved)
    except InvalidVersion:
        return saved == installed
    spec = f"~={version.major}.{version.minor}.0" if version.major == 0 else f"~={version.major}.0"
    return SpecifierSet(spec).contains(installed, prereleases=True)


def _check_plugins(directory: Path) -> None:
    try:
        plugins = json.loads((directory / "plugins.json").read_text())
        records = [(kind, plugins[kind.key]) for kind in _RECORDED]
    except (ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{directory / 'plugins.json'}: unreadable ({exc})") from None
    for kind, record in records:
        installed = {p.name: p for p in discover(kind) if p.status is Status.OK}
        info = installed.get(record["name"])
        if info is None:
            raise PluginError(
                f"{directory} needs the {kind.label} plugin {record['name']!r} ({record['distribution']} "
                f"{record['version']}), which is not installed or not usable; pip install "
                f"'{record['distribution']}~={record['version']}'"
            )
        if not compatible(record["version"], info.version):
            raise PluginError(
                f"{directory} was saved with {record['distribution']} {record['version']}, but "
                f"{info.distribution} {info.version} is installed; install a compatible version"
            )


def read_config(directory: Path) -> Config:
    """The config of a saved VLA, after checking that the folder is complete and its plugins installed.

    The backbone is read from the folder's own ``backbone/``, whatever the config was trained from.
    """
    if not directory.is_dir():
        raise CheckpointError(f"{directory}: no such directory")
    missing = [name for name in FILES if not (directory / name).is_file()]
    if missing:
        raise CheckpointError(f"{directory}: not a saved VLA, it lacks {', '.join(missing)}")
    try:
        data = json.loads((directory / "config.json").read_text())
    except ValueError as exc:
        raise CheckpointError(f"{directory / 'config.json'}: corrupt ({exc})") from None
    try:
        config: Config = config_from_dict(data)
    except ConfigError as exc:
        raise CheckpointError(f"{directory / 'config.json'}: {exc.problems[0]}") from None
    _check_plugins(directory)
    config.vlm = config.vlm.model_copy(update={"model_name": str(directory / BACKBONE_FOLDER), "preset": None})
    return config


def read_weights(directory: Path, expected: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``vla.safetensors``, checked key by key and shape by shape against the model's own ``expected``."""
    path = directory / WEIGHTS
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError) as exc:
        raise CheckpointError(f"{path}: unreadable ({exc})") from None
    absent, unexpected = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    wrong = sorted(k for k in set(expected) & set(state) if expected[k].shape != state[k].shape)
    if absent:
        raise CheckpointError(f"{path} does not match the config (it lacks {absent[0]})")
    if unexpected:
        raise CheckpointError(f"{path} does not match the config (unexpected {unexpected[0]})")
    if wrong:
        got, need = tuple(state[wrong[0]].shape), tuple(expected[wrong[0]].shape)
        raise CheckpointError(f"{path}: {wrong[0]} has shape {got}, the config needs {need}")
    return state
