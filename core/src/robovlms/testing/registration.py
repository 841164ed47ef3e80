"""Checks every conformance suite shares: registration, a torch-free entry point, one-line errors."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from robovlms.plugins.discovery import discover
from robovlms.plugins.kinds import ComponentKind, Status


def one_line_error(excinfo: pytest.ExceptionInfo[BaseException]) -> str:
    """The exception's message, asserted to be a single line (as every user-facing error is)."""
    message = str(excinfo.value)
    assert message and "\n" not in message, f"expected a one-line message, got {message!r}"
    return message


def listed_as_ok(kind: ComponentKind, name: str) -> None:
    found = {p.name: p for p in discover(kind)}
    assert name in found, f"no {kind.group} entry point named {name!r}"
    assert found[name].status is Status.OK, found[name].reason


def entry_point_imports_no_torch(kind: ComponentKind, name: str) -> None:
    (info,) = [p for p in discover(kind) if p.name == name]
    assert info.entry_point is not None
    imports_no_torch(info.entry_point.module)


def imports_no_torch(module: str) -> None:
    """Listing plugins imports every entry-point module: torch or transformers there would make it slow."""
    code = (
        f"import importlib, json, sys; importlib.import_module({module!r}); "
        "print(json.dumps(sorted({'torch', 'transformers'} & set(sys.modules))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == [], f"importing {module} imports {out.strip()}"


def copy_folder(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target
