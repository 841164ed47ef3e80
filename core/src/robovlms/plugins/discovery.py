"""What plugins are installed, read from entry-point metadata alone.

Nothing here imports a plugin, torch or transformers: the listing must stay cheap and must
survive any broken plugin. Every problem that metadata and the file system can reveal (a core
version the plugin excludes, a missing module, a name taken twice, the user's own switches) is
found here; problems that need an import are found by :mod:`robovlms.plugins.loading`.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass, field, replace
from importlib import metadata
from importlib.machinery import PathFinder

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from robovlms.plugins.kinds import KINDS, ComponentKind, Status, kind_named
from robovlms.version import __version__

CORE_DISTRIBUTION = "robovlms"


@dataclass(frozen=True)
class PluginInfo:
    """One entry point of one installed distribution, with what is known about its health."""

    name: str
    kind: ComponentKind
    distribution: str
    version: str
    value: str
    status: Status = Status.OK
    reason: str = ""
    entry_point: metadata.EntryPoint | None = field(default=None, compare=False, repr=False)

    @property
    def problem(self) -> bool:
        return self.status.problem

    def as_dict(self) -> dict[str, str]:
        """The JSON object ``robovlms plugins --json`` prints for this entry point."""
        return {
            "name": self.name,
            "kind": self.kind.key,
            "distribution": self.distribution,
            "version": self.version,
            "status": self.status.value,
            "reason": self.reason,
            "entry_point": self.value,
        }


def _env_names(variable: str) -> set[str] | None:
    raw = os.environ.get(variable)
    if raw is None:
        return None
    return {canonicalize_name(part) for part in raw.split(",") if part.strip()}


def _core_requirement_problem(dist: metadata.Distribution, core_version: str) -> str | None:
    """Why the distribution's ``Requires-Dist: robovlms`` range excludes the installed core, if it does."""
    for line in dist.requires or []:
        try:
            req = Requirement(line)
        except InvalidRequirement:
            return f"unparsable Requires-Dist {line!r}"
        if canonicalize_name(req.name) != CORE_DISTRIBUTION:
            continue
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        if req.specifier and not req.specifier.contains(core_version, prereleases=True):
            return f"requires robovlms{req.specifier} but robovlms {core_version} is installed"
    return None


def _module_missing(module: str) -> bool:
    """Whether ``module`` cannot be found, decided without executing any of its packages."""
    top, *rest = module.split(".")
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        return True
    for part in rest:
        if spec is None or spec.submodule_search_locations is None:
            return True
        spec = PathFinder.find_spec(part, list(spec.submodule_search_locations))
    return spec is None


def discover(kind: str | ComponentKind | None = None) -> list[PluginInfo]:
    """Every installed robovlms plugin of ``kind`` (or of every kind), in a stable order."""
    core = __version__
    selected = _env_names("ROBOVLMS_PLUGINS")
    disabled = _env_names("ROBOVLMS_DISABLE_PLUGINS") or set()
    kinds = [kind_named(kind)] if kind else list(KINDS)
    found: list[PluginInfo] = []
    seen: set[str] = set()
    for dist in metadata.distributions():
        dist_name = dist.metadata["Name"] or "?"
        if canonicalize_name(dist_name) in seen:
            continue  # the same distribution on two sys.path entries: Python imports the first
        seen.add(canonicalize_name(dist_name))
        for each in kinds:
            for ep in dist.entry_points.select(group=each.group):
                found.append(_health(ep, each, dist, dist_name, core, selected, disabled))
    return _mark_conflicts(found)


def _health(
    ep: metadata.EntryPoint,
    kind: ComponentKind,
    dist: metadata.Distribution,
    dist_name: str,
    core: str,
    selected: set[str] | None,
    disabled: set[str],
) -> PluginInfo:
    info = PluginInfo(ep.name, kind, dist_name, dist.version, ep.value, entry_point=ep)
    names = {canonicalize_name(ep.name), canonicalize_name(dist_name)}
    if names & disabled:
        return replace(info, status=Status.DISABLED, reason="named in ROBOVLMS_DISABLE_PLUGINS")
    if selected is not None and not names & selected:
        return replace(info, status=Status.DISABLED, reason="not named in ROBOVLMS_PLUGINS")
    problem = _core_requirement_problem(dist, core)
    if problem:
        return replace(info, status=Status.INCOMPATIBLE, reason=problem)
    if _module_missing(ep.module):
        return replace(
            info, status=Status.MISSING, reason=f"entry point names module {ep.module!r}, which is not installed"
        )
    return info


def split_name(name: str) -> tuple[str | None, str]:
    """``"robovlms-paligemma:paligemma"`` to its distribution and component name; a plain name has no distribution."""
    distribution, sep, component = name.rpartition(":")
    return (distribution, component) if sep else (None, name)


def _mark_conflicts(found: list[PluginInfo]) -> list[PluginInfo]:
    """A name that several usable distributions claim goes to none of them until the user chooses.

    Which one a config meant cannot be told from the order of ``sys.path``: every claimant is shown
    as ``conflict``, and a qualified name (``distribution:name``) or disabling the others decides.
    """
    claims: dict[tuple[ComponentKind, str], list[PluginInfo]] = {}
    for info in found:
        if info.status is Status.OK:
            claims.setdefault((info.kind, info.name), []).append(info)
    result = []
    for info in found:
        rivals = [p for p in claims.get((info.kind, info.name), []) if p is not info]
        if info.status is Status.OK and rivals:
            others = ", ".join(f"{p.distribution} {p.version}" for p in rivals)
            info = replace(
                info,
                status=Status.CONFLICT,
                reason=f"{info.kind.label} {info.name!r} is also claimed by {others}; "
                f"a config chooses with '{info.distribution}:{info.name}'",
            )
        result.append(info)
    return sorted(result, key=lambda p: (p.kind.key, p.name, p.status is not Status.OK, p.distribution))
