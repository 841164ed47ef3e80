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
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from robovlms.errors import PluginError, first_line, shown
from robovlms.plugins import hookspecs
from robovlms.plugins.discovery import PluginInfo, discover, split_name
from robovlms.plugins.kinds import Component, ComponentKind, Status, kind_named
from robovlms.version import PLUGIN_API_VERSION

_manager: pluggy.PluginManager | None = None
_loaded: dict[tuple[ComponentKind, str, str], type[Component]] = {}


class _LoadFailure(Exception):
    def __init__(self, status: Status, reason: str) -> None:
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
    """Whether ``ROBOVLMS_STRICT_PLUGINS`` makes any plugin problem an error."""
    return os.environ.get("ROBOVLMS_STRICT_PLUGINS", "").strip().lower() in {"1", "true", "yes", "on"}


def _describe(obj: object) -> str:
    if isinstance(obj, type):
        return f"class {obj.__module__}.{obj.__qualname__} (name={getattr(obj, 'name', None)!r})"
    return f"{type(obj).__name__} {obj!r:.60}"


def _check_api(module: ModuleType) -> None:
    """Same major version, and no newer minor: a 1.2 plugin uses what a 1.1 core does not have."""
    declared = getattr(module, "PLUGIN_API", None)
    try:
        version: Version | None = Version(str(declared))
    except InvalidVersion:
        version = None
    provided = Version(PLUGIN_API_VERSION)
    if version is None or version.major != provided.major:
        got = "declares no PLUGIN_API" if declared is None else f"targets plugin API {declared}"
        raise _LoadFailure(
            Status.INCOMPATIBLE,
            f"{got}; this robovlms provides plugin API {PLUGIN_API_VERSION} (needs {provided.major}.x)",
        )
    if version.minor > provided.minor:
        raise _LoadFailure(
            Status.INCOMPATIBLE,
            f"targets plugin API {declared}, newer than this robovlms's {PLUGIN_API_VERSION}; upgrade robovlms",
        )


def _import(info: PluginInfo) -> ModuleType:
    assert info.entry_point is not None
    module_name = info.entry_point.module
    try:
        module = import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and (module_name == exc.name or module_name.startswith(exc.name + ".")):
            raise _LoadFailure(
                Status.MISSING, f"entry point names module {module_name!r}, which is not installed"
            ) from None
        raise _LoadFailure(
            Status.BROKEN, f"importing {module_name} failed: {first_line(exc, with_type=True)}"
        ) from None
    except Exception as exc:
        raise _LoadFailure(
            Status.BROKEN, f"importing {module_name} failed: {first_line(exc, with_type=True)}"
        ) from None
    if info.entry_point.attr:
        raise _LoadFailure(Status.INVALID, f"entry point {info.value!r} must name a module, not an attribute")
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
        raise _LoadFailure(Status.INVALID, f"hook contract violated: {first_line(exc)}") from None
    return pm


def _registered_classes(pm: pluggy.PluginManager, module: ModuleType, kind: ComponentKind) -> list[object]:
    others = [plugin for plugin in pm.get_plugins() if plugin is not module]
    try:
        results = pm.subset_hook_caller(kind.hook, remove_plugins=others)()
    except Exception as exc:
        raise _LoadFailure(Status.ERROR, f"{kind.hook}() raised {first_line(exc, with_type=True)}") from None
    flat: list[object] = []
    for result in results:
        flat.extend(result if isinstance(result, (list, tuple)) else [result])
    return flat


def _select(classes: list[object], info: PluginInfo) -> type[Component]:
    kind = info.kind
    if not classes:
        raise _LoadFailure(Status.INVALID, f"implements no {kind.hook} hook, or it returned nothing")
    for cls in classes:
        if isinstance(cls, type) and issubclass(cls, Component) and cls.kind is kind and cls.name == info.name:
            return cls
    got = ", ".join(_describe(c) for c in classes)
    raise _LoadFailure(
        Status.INVALID, f"{kind.hook}() returned {got}; expected a {kind.base} subclass with name={info.name!r}"
    )


def _load(info: PluginInfo) -> type[Component]:
    key = (info.kind, info.distribution, info.name)
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
    """Load a plugin to find problems that metadata cannot show; return its updated status.

    A claimant of a conflicting name is loaded too: if it is broken, that is what it is shown as.
    """
    if info.status not in (Status.OK, Status.CONFLICT):
        return info
    try:
        _load(info)
    except _LoadFailure as failure:
        return replace(info, status=failure.status, reason=failure.reason)
    return info


def _unknown(kind: ComponentKind, name: str, candidates: list[PluginInfo]) -> PluginError:
    usable = sorted({p.name for p in candidates if p.status is Status.OK})
    close = difflib.get_close_matches(name, usable, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    listed = ", ".join(usable) if usable else "none (no installed distribution provides one)"
    return PluginError(f"unknown {kind.label} {shown(name)}{hint}; installed {kind.label}s: {listed}")


def _claimed_by_several(kind: ComponentKind, name: str, claims: list[PluginInfo]) -> PluginError:
    rivals = [p for p in claims if p.status is Status.CONFLICT]
    listed = " and ".join(f"{p.distribution} {p.version}" for p in rivals)
    choices = " or ".join(f"'{p.distribution}:{name}'" for p in rivals)
    return PluginError(
        f"{kind.label} {shown(name)} is claimed by {listed}; name one of them as {choices}, "
        "or disable the others with ROBOVLMS_DISABLE_PLUGINS"
    )


def load(kind: str | ComponentKind, name: str) -> type[Component]:
    """Return the class registered under ``name``, importing only the entry point that provides it.

    ``name`` may be qualified by its distribution (``robovlms-paligemma:paligemma``), which is how a
    config chooses between distributions that claim the same name.
    """
    kind = kind_named(kind)
    distribution, name = split_name(name)
    everything = discover()
    if strict():
        problems = [p for p in everything if p.problem]
        if problems:
            p = problems[0]
            raise PluginError(
                f"ROBOVLMS_STRICT_PLUGINS is set and {p.kind.label} {p.name!r} from {p.distribution} "
                f"{p.version} is {p.status}: {p.reason}"
            )
    candidates = [p for p in everything if p.kind is kind]
    claims = [p for p in candidates if p.name == name]
    if not claims:
        raise _unknown(kind, name, candidates)
    if distribution is not None:
        chosen = [p for p in claims if canonicalize_name(p.distribution) == canonicalize_name(distribution)]
        if not chosen:
            providers = ", ".join(sorted({p.distribution for p in claims}))
            raise PluginError(
                f"{kind.label} {shown(name)}: no installed distribution {shown(distribution)} provides it "
                f"(it is provided by {providers})"
            )
        info = chosen[0]
    elif any(p.status is Status.CONFLICT for p in claims):
        raise _claimed_by_several(kind, name, claims)
    else:
        info = next((p for p in claims if p.status is Status.OK), claims[0])
    checked = check(info)
    if checked.status not in (Status.OK, Status.CONFLICT):  # a chosen claimant of a shared name is fine
        raise PluginError(
            f"{kind.label} {shown(name)} from {checked.distribution} {checked.version} cannot be used "
            f"({checked.status}): {checked.reason}"
        )
    return _loaded[(kind, checked.distribution, name)]


def unknown_names(kind: str | ComponentKind, names: list[str]) -> list[str]:
    """One message for each of ``names`` that no installed distribution provides (metadata only)."""
    kind = kind_named(kind)
    candidates = discover(kind)
    known = {p.name for p in candidates}
    plain = [split_name(n)[1] for n in names]
    return [str(_unknown(kind, n, candidates)) for n in plain if n not in known]
