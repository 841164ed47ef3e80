"""A trained VLA on disk: what it holds, and the checks that keep a wrong one from loading.

Layout of a VLA directory (no pickle anywhere):

- ``config.json``: the resolved config
- ``plugins.json``: name, distribution and version of the backbone and head plugins, and the core's
- ``backbone/``: the VLM in transformers format (weights, tokenizer, image processor)
- ``vla.safetensors``: everything else (action tokens, action head)
- ``normalization.json``: the action statistics applied in training
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

from robovlms.config import Config, config_from_dict
from robovlms.discovery import discover
from robovlms.errors import CheckpointError, ConfigError, PluginError
from robovlms.plugins import LABELS

if TYPE_CHECKING:
    from robovlms.vla import VLA

FILES = ("config.json", "plugins.json", "vla.safetensors", "normalization.json", "backbone/config.json")


def _plugin_record(kind: str, name: str) -> dict[str, str]:
    info = next(p for p in discover(kind) if p.name == name and p.status == "ok")  # type: ignore[arg-type]
    return {"name": name, "distribution": info.distribution, "version": info.version}


def save(vla: VLA, directory: Path) -> None:
    from safetensors.torch import save_file

    from robovlms import __version__

    directory.mkdir(parents=True, exist_ok=True)
    config = vla.config
    (directory / "config.json").write_text(config.model_dump_json(indent=2))
    plugins = {
        "robovlms": __version__,
        "backbone": _plugin_record("backbone", config.model.backbone),
        "action_head": _plugin_record("action_head", config.model.action_head or ""),
    }
    (directory / "plugins.json").write_text(json.dumps(plugins, indent=2))
    vla.backbone.save_pretrained(directory / "backbone")
    own = {k: v.detach().contiguous() for k, v in vla.state_dict().items() if not k.startswith("backbone.")}
    save_file(own, str(directory / "vla.safetensors"))
    vla.normalizer.save(directory / "normalization.json")


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
        records = [(kind, plugins[kind]) for kind in ("backbone", "action_head")]
    except (ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{directory / 'plugins.json'}: unreadable ({exc})") from None
    for kind, record in records:
        label = LABELS[kind]
        installed = {p.name: p for p in discover(kind) if p.status == "ok"}  # type: ignore[arg-type]
        info = installed.get(record["name"])
        if info is None:
            raise PluginError(
                f"{directory} needs the {label} plugin {record['name']!r} ({record['distribution']} "
                f"{record['version']}), which is not installed or not usable; pip install "
                f"'{record['distribution']}~={record['version']}'"
            )
        if not compatible(record["version"], info.version):
            raise PluginError(
                f"{directory} was saved with {record['distribution']} {record['version']}, but "
                f"{info.distribution} {info.version} is installed; install a compatible version"
            )


def load(directory: Path) -> VLA:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from robovlms.building import build_vla
    from robovlms.normalization import ActionNormalizer

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
    config.vlm = config.vlm.model_copy(update={"model_name": str(directory / "backbone"), "preset": None})
    normalizer = ActionNormalizer.load(directory / "normalization.json", config.model.action_dim)
    vla = build_vla(config, normalizer=normalizer)
    try:
        state = load_file(str(directory / "vla.safetensors"))
    except (SafetensorError, OSError) as exc:
        raise CheckpointError(f"{directory / 'vla.safetensors'}: unreadable ({exc})") from None
    expected = {k: v for k, v in vla.state_dict().items() if not k.startswith("backbone.")}
    absent, unexpected = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    wrong = sorted(k for k in set(expected) & set(state) if expected[k].shape != state[k].shape)
    if absent:
        raise CheckpointError(f"{directory / 'vla.safetensors'} does not match the config (it lacks {absent[0]})")
    if unexpected:
        raise CheckpointError(f"{directory / 'vla.safetensors'} does not match the config (unexpected {unexpected[0]})")
    if wrong:
        got, need = tuple(state[wrong[0]].shape), tuple(expected[wrong[0]].shape)
        raise CheckpointError(f"{directory / 'vla.safetensors'}: {wrong[0]} has shape {got}, the config needs {need}")
    vla.load_state_dict(state, strict=False)
    return vla.eval()
