"""Names of a new plugin: the distribution, its import package, its component name, and what is taken.

The distribution is ``robovlms-<name>`` (the convention that makes plugins findable on PyPI), the
package ``robovlms_<name>``, and ``<name>`` with underscores is what configs write. All three must be
free before anything is written, so a generated plugin never shadows an installed one.
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from packaging.utils import canonicalize_name

from robovlms.errors import RoboVLMsError
from robovlms.plugins.discovery import discover
from robovlms.plugins.kinds import ComponentKind

#: PEP 508: what pip accepts as a distribution name at all
_VALID = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.IGNORECASE)
#: robovlms' own rule on top: lowercase, hyphen-separated, after the robovlms- prefix
_PLUGIN = re.compile(r"^robovlms-([a-z][a-z0-9]*(?:-[a-z0-9]+)*)$")


@dataclass(frozen=True)
class PluginName:
    distribution: str
    component: str

    @property
    def package(self) -> str:
        return f"robovlms_{self.component}"

    @property
    def title(self) -> str:
        """CamelCase of the component, for class names when no transformers class names them."""
        return "".join(part.capitalize() for part in self.component.split("_"))


def parse(name: str) -> PluginName:
    """The names of a plugin distribution called ``name``, or a one-line error saying what is wrong."""
    if not _VALID.match(name):
        raise RoboVLMsError(
            f"{name!r} is not a valid distribution name (letters, digits, '-', '_' and '.', "
            "starting and ending with a letter or digit)"
        )
    match = _PLUGIN.match(name)
    if not match:
        raise RoboVLMsError(
            f"plugin distributions are named robovlms-<name> in lowercase with hyphens, e.g. robovlms-internvl; "
            f"got {name!r}"
        )
    return PluginName(name, match.group(1).replace("-", "_"))


def check_free(name: PluginName, kind: ComponentKind, target: Path) -> None:
    """Raise a one-line error if the folder, the distribution, the package or the component name is taken."""
    if target.exists():
        raise RoboVLMsError(f"{target} already exists; choose another name or --output")
    wanted = canonicalize_name(name.distribution)
    for dist in metadata.distributions():
        if canonicalize_name(dist.metadata["Name"] or "") == wanted:
            raise RoboVLMsError(f"distribution {name.distribution} is already installed ({dist.version})")
    for info in discover(kind):
        if info.name == name.component:
            raise RoboVLMsError(f"{kind.label} name {name.component!r} is taken by {info.distribution} {info.version}")
    if importlib.util.find_spec(name.package) is not None:
        raise RoboVLMsError(f"a module named {name.package} is already importable; choose another name")
