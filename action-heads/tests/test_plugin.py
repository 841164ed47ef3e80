"""The four heads reach the core through their entry points, and listing them stays cheap."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from heads_helpers import HEADS

from robovlms.action_head import BaseActionHead
from robovlms.discovery import discover
from robovlms.plugins import load


def _listed() -> dict[str, object]:
    return {p.name: p for p in discover("action_head") if p.distribution == "robovlms-action-heads"}


def test_listed_as_ok() -> None:
    listed = _listed()
    assert sorted(listed) == sorted(HEADS)
    assert {name: (p.status, p.reason) for name, p in listed.items()} == {name: ("ok", "") for name in HEADS}


@pytest.mark.parametrize("name", HEADS)
def test_loads_by_name(name: str) -> None:
    cls = load("action_head", name)
    assert issubclass(cls, BaseActionHead)
    assert cls.name == name


def test_entry_point_module_imports_no_torch() -> None:
    modules = sorted({p.entry_point.module for p in _listed().values()})
    code = (
        "import importlib, json, sys; "
        f"[importlib.import_module(m) for m in {modules!r}]; "
        "print(json.dumps(sorted({'torch', 'transformers'} & set(sys.modules))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == []
