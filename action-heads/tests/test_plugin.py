"""This distribution provides exactly the four heads (each one's registration: test_conformance.py)."""

from __future__ import annotations

from heads_helpers import HEADS

from robovlms.plugins.discovery import discover


def _listed() -> dict[str, object]:
    return {p.name: p for p in discover("action_head") if p.distribution == "robovlms-action-heads"}


def test_listed_as_ok() -> None:
    listed = _listed()
    assert sorted(listed) == sorted(HEADS)
    assert {name: (p.status, p.reason) for name, p in listed.items()} == {name: ("ok", "") for name in HEADS}
