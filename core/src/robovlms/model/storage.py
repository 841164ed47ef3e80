"""A trained VLA on disk: what its folder holds, and the checks that keep a wrong one from loading.

Layout of a VLA folder (no pickle anywhere):

- ``config.json``: the resolved config
- ``plugins.json``: name, distribution and version of the backbone and head plugins, and the core's
- ``backbone/``: the VLM in transformers format (weights, tokenizer, image processor)
- ``vla.safetensors``: everything else (action tokens, action head, robot-state encoder)
- ``normalization.json``: the action statistics applied in training, and which statistics they are
- ``cameras.json`` (optional): each camera's frame size as trained on, so a policy refuses another

This module reads and writes those files; :class:`robovlms.model.vla.VLA` puts a model together
from them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from robovlms.config import Config, config_from_dict
from robovlms.errors import CheckpointError, ConfigError, PluginError, first_line, shown
from robovlms.plugins.discovery import PluginInfo, discover, split_name
from robovlms.plugins.kinds import ACTION_HEAD, BACKBONE, ComponentKind, Status
from robovlms.version import __version__

FILES = ("config.json", "plugins.json", "vla.safetensors", "normalization.json", "backbone/config.json")
BACKBONE_FOLDER = "backbone"
WEIGHTS = "vla.safetensors"
NORMALIZATION = "normalization.json"
CAMERAS = "cameras.json"
#: the kinds recorded in plugins.json, under their keys
_RECORDED = (BACKBONE, ACTION_HEAD)


#: plugin states whose class may be built: a conflicting name is built when the config chose its distribution
_USABLE = (Status.OK, Status.CONFLICT)


def _claimant(kind: ComponentKind, name: str, distribution: str | None) -> PluginInfo | None:
    """The installed plugin a (possibly distribution-qualified) name stands for, if one is usable."""
    claims = [p for p in discover(kind) if p.name == name and p.status in _USABLE]
    if distribution is not None:
        claims = [p for p in claims if canonicalize_name(p.distribution) == canonicalize_name(distribution)]
    return claims[0] if len(claims) == 1 else None


def _plugin_record(kind: ComponentKind, qualified: str) -> dict[str, str]:
    distribution, name = split_name(qualified)
    info = _claimant(kind, name, distribution)
    assert info is not None, "the model was built from this plugin"
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
    path = directory / "plugins.json"
    try:
        plugins = json.loads(path.read_text())
        records = [(kind, plugins[kind.key]) for kind in _RECORDED]
    except (ValueError, KeyError, TypeError, RecursionError) as exc:
        raise CheckpointError(f"{path}: unreadable ({first_line(exc, with_type=True)})") from None
    for kind, record in records:
        fields = ("name", "distribution", "version")
        if not isinstance(record, dict) or not all(isinstance(record.get(f), str) for f in fields):
            raise CheckpointError(
                f"{path}: {kind.key} must be an object with string name, distribution and version, got {shown(record)}"
            )
    for kind, record in records:
        info = _claimant(kind, record["name"], None) or _claimant(kind, record["name"], record["distribution"])
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


#: set to 1 to let saved VLAs run the Python code in their backbone folder (as --trust-remote-code does)
TRUST_VARIABLE = "ROBOVLMS_TRUST_REMOTE_CODE"


def trusted(trust_remote_code: bool | None) -> bool:
    """The caller's decision on remote code, or ``ROBOVLMS_TRUST_REMOTE_CODE`` when it made none."""
    if trust_remote_code is not None:
        return trust_remote_code
    return os.environ.get(TRUST_VARIABLE, "").strip().lower() in {"1", "true", "yes", "on"}


def read_config(directory: Path, *, trust_remote_code: bool = False) -> Config:
    """The config of a saved VLA, after checking that the folder is complete and its plugins installed.

    The backbone is read from the folder's own ``backbone/``, whatever the config was trained from.
    Whether that folder's own Python code may run is the caller's decision (``trust_remote_code``),
    never the saved config's: a folder cannot turn trust on for itself.
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
    backbone = {"model_name": str(directory / BACKBONE_FOLDER), "preset": None, "trust_remote_code": trust_remote_code}
    config.vlm = config.vlm.model_copy(update=backbone)
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


def write_cameras(directory: Path, sizes: dict[str, tuple[int, int]]) -> None:
    cameras = [{"name": name, "height": height, "width": width} for name, (height, width) in sizes.items()]
    (directory / CAMERAS).write_text(json.dumps({"cameras": cameras}, indent=2))


def read_cameras(directory: Path, names: list[str]) -> dict[str, tuple[int, int]] | None:
    """Each camera's ``(H, W)`` from ``cameras.json``, None for a folder without one (saved before it existed)."""
    path = directory / CAMERAS
    if not path.is_file():
        return None
    try:
        sizes = {c["name"]: (int(c["height"]), int(c["width"])) for c in json.loads(path.read_text())["cameras"]}
    except (ValueError, KeyError, TypeError, RecursionError) as exc:
        raise CheckpointError(f"{path}: unreadable ({first_line(exc, with_type=True)})") from None
    if sorted(sizes) != sorted(names):
        raise CheckpointError(f"{path}: lists cameras {sorted(sizes)}, the config's data.image_keys are {names}")
    return sizes
