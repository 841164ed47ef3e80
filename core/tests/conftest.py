"""Fake plugin distributions on a temporary sys.path entry: real dist-info metadata, real modules."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from robovlms.plugins import loading

GOOD_BACKBONE = """
    from robovlms import BaseRoboVLM

    class Goodbone(BaseRoboVLM):
        name = "goodbone"
"""

GOOD_HEAD = """
    from robovlms.model.action_head import BaseActionHead

    class Goodhead(BaseActionHead):
        name = "goodhead"
"""

ENTRY = """
    import robovlms

    PLUGIN_API = "1.0"

    @robovlms.hookimpl
    def {hook}():
        {body}
"""


class Site:
    """A folder on sys.path where tests install fake distributions."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def dist(
        self,
        name: str,
        *,
        entry_points: dict[str, dict[str, str]],
        modules: dict[str, str] | None = None,
        requires: tuple[str, ...] = ("robovlms>=0.1",),
        version: str = "1.0.0",
    ) -> None:
        info = self.root / f"{name.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        meta = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
        meta += [f"Requires-Dist: {req}" for req in requires]
        (info / "METADATA").write_text("\n".join(meta) + "\n")
        groups = [
            f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in eps.items()) for group, eps in entry_points.items()
        ]
        (info / "entry_points.txt").write_text("\n".join(groups))
        for module, source in (modules or {}).items():
            path = self.root / Path(*module.split(".")).with_suffix(".py")
            path.parent.mkdir(parents=True, exist_ok=True)
            for parent in path.parents:
                if parent == self.root:
                    break
                (parent / "__init__.py").touch()
            path.write_text(textwrap.dedent(source))

    def listing(self, *flags: str, env: dict[str, str] | None = None) -> tuple[int, dict[str, dict]]:
        """Run the real CLI with this site on its path; return the exit code and the fake rows by distribution."""
        environment = {**os.environ, "PYTHONPATH": str(self.root), **(env or {})}
        proc = subprocess.run(
            [sys.executable, "-m", "robovlms", "plugins", "--json", *flags],
            capture_output=True,
            text=True,
            env=environment,
        )
        assert "Traceback" not in proc.stderr, proc.stderr
        rows = [row for row in json.loads(proc.stdout) if row["distribution"].startswith("fake-")]
        return proc.returncode, {row["distribution"]: row for row in rows}

    def backbone_plugin(self, dist: str, module: str, *, name: str = "goodbone", body: str | None = None, **kw) -> None:
        """A plugin registering a backbone; ``body`` replaces the hook's body."""
        body = body or f"from {module}_impl import Goodbone; return [Goodbone]"
        self.dist(
            dist,
            entry_points={"robovlms.backbones": {name: module}},
            modules={
                module: ENTRY.format(hook="robovlms_register_backbones", body=body),
                f"{module}_impl": GOOD_BACKBONE,
            },
            **kw,
        )

    def head_plugin(self, dist: str, module: str, *, name: str = "goodhead", body: str | None = None, **kw) -> None:
        body = body or f"from {module}_impl import Goodhead; return [Goodhead]"
        self.dist(
            dist,
            entry_points={"robovlms.action_heads": {name: module}},
            modules={
                module: ENTRY.format(hook="robovlms_register_action_heads", body=body),
                f"{module}_impl": GOOD_HEAD,
            },
            **kw,
        )


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.setattr(loading, "_manager", None)
    monkeypatch.setattr(loading, "_loaded", {})
    for variable in ("ROBOVLMS_PLUGINS", "ROBOVLMS_DISABLE_PLUGINS", "ROBOVLMS_STRICT_PLUGINS"):
        monkeypatch.delenv(variable, raising=False)
    before = set(sys.modules)
    yield Site(root)
    for module in set(sys.modules) - before:
        if getattr(sys.modules[module], "__file__", None) and str(root) in sys.modules[module].__file__:
            del sys.modules[module]
