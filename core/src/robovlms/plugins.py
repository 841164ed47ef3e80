"""Loading plugins: import the one entry point a build names, register its hooks, check what it returns.

A failure is confined to the plugin that caused it: it becomes a :class:`PluginError` naming the
distribution and the cause, and the plugin is unregistered so that other plugins keep working.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import replace
from importlib import import_module
from types import ModuleType

import pluggy
from packaging.version import InvalidVersion, Version

from robovlms import hookspecs
from robovlms.discovery import BROKEN, ERROR, INCOMPATIBLE, INVALID, MISSING, OK, Kind, PluginInfo, discover
from robovlms.errors import PluginError, first_line

LABELS = {"backbone": "backbone", "action_head": "action head"}
HOOKS = {"backbone": "robovlms_register_backbones", "action_head": "robovlms_register_action_heads"}
_BASES = {"backbone": ("robovlms.backbone", "BaseRoboVLM"), "action_head": ("robovlms.action_head", "BaseActionHead")}

_manager: pluggy.PluginManager | None = None
_loaded: dict[tuple[str, str], type] = {}


class _LoadFailure(Exception):
    def __init__(self, status: str, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


def manager() -> pluggy.PluginManager:
    """The plugin manager holding every plugin module loaded so far in this process."""
    global _manager
    if _manager is None:
        _manager = pluggy.PluginManager(hookspecs.PROJECT)
        _manager.add_hookspecs(hookspecs)
    return _manager


def strict() -> bool:
    return os.environ.get("ROBOVLMS_STRICT_PLUGINS", "").strip().lower() in {"1", "true", "yes", "on"}


def _describe(obj: object) -> str:
    if isinstance(obj, type):
        return f"class {obj.__module__}.{obj.__qualname__} (name={getattr(obj, 'name', None)!r})"
    return f"{type(obj).__name__} {obj!r:.60}"


def _check_api(module: ModuleType) -> None:
    from robovlms import PLUGIN_API_VERSION

    declared = getattr(module, "PLUGIN_API", None)
    try:
        major = Version(str(declared)).major
    except InvalidVersion:
        major = None
    supported = Version(PLUGIN_API_VERSION).major
    if major != supported:
        got = "declares no PLUGIN_API" if declared is None else f"targets plugin API {declared}"
        raise _LoadFailure(
            INCOMPATIBLE, f"{got}; this robovlms provides plugin API {PLUGIN_API_VERSION} (needs {supported}.x)"
        )


def _import(info: PluginInfo) -> ModuleType:
    assert info.entry_point is not None
    module_name = info.entry_point.module
    try:
        module = import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and (module_name == exc.name or module_name.startswith(exc.name + ".")):
            raise _LoadFailure(MISSING, f"entry point names module {module_name!r}, which is not installed") from None
        raise _LoadFailure(BROKEN, f"importing {module_name} failed: {first_line(exc, with_type=True)}") from None
    except Exception as exc:
        raise _LoadFailure(BROKEN, f"importing {module_name} failed: {first_line(exc, with_type=True)}") from None
    if info.entry_point.attr:
        raise _LoadFailure(INVALID, f"entry point {info.value!r} must name a module, not an attribute")
    return module


def _register(module: ModuleType, info: PluginInfo) -> pluggy.PluginManager:
    pm = manager()
    if pm.is_registered(module):
        return pm
    try:
        pm.register(module, name=f"{info.distribution}:{module.__name__}")
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        if pm.is_registered(module):
            pm.unregister(module)
        raise _LoadFailure(INVALID, f"hook contract violated: {first_line(exc)}") from None
    return pm


def _registered_classes(pm: pluggy.PluginManager, module: ModuleType, kind: Kind) -> list[object]:
    hook = HOOKS[kind]
    others = [plugin for plugin in pm.get_plugins() if plugin is not module]
    try:
        results = pm.subset_hook_caller(hook, remove_plugins=others)()
    except Exception as exc:
        raise _LoadFailure(ERROR, f"{hook}() raised {first_line(exc, with_type=True)}") from None
    flat: list[object] = []
    for result in results:
        flat.extend(result if isinstance(result, (list, tuple)) else [result])
    return flat


def _select(classes: list[object], info: PluginInfo) -> type:
    module_name, base_name = _BASES[info.kind]
    base = getattr(import_module(module_name), base_name)
    if not classes:
        raise _LoadFailure(INVALID, f"implements no {HOOKS[info.kind]} hook, or it returned nothing")
    for cls in classes:
        if isinstance(cls, type) and issubclass(cls, base) and getattr(cls, "name", None) == info.name:
            return cls
    got = ", ".join(_describe(c) for c in classes)
    raise _LoadFailure(
        INVALID,
        f"{HOOKS[info.kind]}() returned {got}; expected a robovlms.{base_name} subclass with name={info.name!r}",
    )


def _load(info: PluginInfo) -> type:
    key = (info.kind, info.name)
    if key in _loaded:
        return _loaded[key]
    module = _import(info)
    _check_api(module)
    pm = _register(module, info)
    try:
        cls = _select(_registered_classes(pm, module, info.kind), info)
    except _LoadFailure:
        pm.unregister(module)
        raise
    _loaded[key] = cls
    return cls


def check(info: PluginInfo) -> PluginInfo:
    """Load a plugin to find problems that metadata cannot show; return its updated status."""
    if info.status != OK:
        return info
    try:
        _load(info)
    except _LoadFailure as failure:
        return replace(info, status=failure.status, reason=failure.reason)
    return info


def _unknown(kind: Kind, name: str, candidates: list[PluginInfo]) -> PluginError:
    usable = sorted({p.name for p in candidates if p.status == OK})
    label = LABELS[kind]
    close = difflib.get_close_matches(name, usable, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    listed = ", ".join(usable) if usable else "none (no installed distribution provides one)"
    return PluginError(f"unknown {label} {name!r}{hint}; installed {label}s: {listed}")


def load(kind: Kind, name: str) -> type:
    """Return the class registered under ``name``, importing only the entry point that provides it."""
    everything = discover()
    if strict():
        problems = [p for p in everything if p.problem]
        if problems:
            p = problems[0]
            raise PluginError(
                f"ROBOVLMS_STRICT_PLUGINS is set and {LABELS[p.kind]} {p.name!r} from {p.distribution} "
                f"{p.version} is {p.status}: {p.reason}"
            )
    candidates = [p for p in everything if p.kind == kind]
    claims = [p for p in candidates if p.name == name]
    if not claims:
        raise _unknown(kind, name, candidates)
    info = next((p for p in claims if p.status == OK), claims[0])
    checked = check(info)
    if checked.status != OK:
        raise PluginError(
            f"{LABELS[kind]} {name!r} from {checked.distribution} {checked.version} cannot be used "
            f"({checked.status}): {checked.reason}"
        )
    return _loaded[(kind, name)]


def unknown_names(kind: Kind, names: list[str]) -> list[str]:
    """One message for each of ``names`` that no installed distribution provides (metadata only)."""
    candidates = discover(kind)
    known = {p.name for p in candidates}
    return [str(_unknown(kind, n, candidates)) for n in names if n not in known]
