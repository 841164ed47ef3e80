"""A broken plugin never breaks the listing or another plugin (one test per way of breaking)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import robovlms
from robovlms import PluginError
from robovlms.plugins import check, load
from robovlms.plugins.discovery import discover


@pytest.fixture
def good(site):
    site.backbone_plugin("fake-good", "fake_good")
    site.head_plugin("fake-goodhead", "fake_goodhead")
    return site


def assert_isolated(site, bad_dist: str, status: str, cause: str, *, kind: str = "backbone", name: str = "badbone"):
    """The shared expectations of every isolation case."""
    # real plugins installed beside the fakes stay out of it: loading them would only cost time
    code, rows = site.listing("--check", env={"ROBOVLMS_PLUGINS": f"fake-good,fake-goodhead,{bad_dist}"})
    assert rows["fake-good"]["status"] == "ok" and rows["fake-goodhead"]["status"] == "ok"
    assert rows[bad_dist]["status"] == status
    assert cause in rows[bad_dist]["reason"] and "\n" not in rows[bad_dist]["reason"]
    assert code == 1
    assert load("backbone", "goodbone").__name__ == "Goodbone"
    assert load("action_head", "goodhead").__name__ == "Goodhead"
    with pytest.raises(PluginError) as excinfo:
        load(kind, name)
    message = str(excinfo.value)
    assert bad_dist in message and cause in message and "\n" not in message


def test_import_failure(good):
    good.dist(
        "fake-crash",
        entry_points={"robovlms.backbones": {"badbone": "fake_crash"}},
        modules={"fake_crash": "raise RuntimeError('cuda driver not found')\n"},
    )
    assert_isolated(good, "fake-crash", "broken", "RuntimeError: cuda driver not found")


def test_hook_raises(good):
    good.backbone_plugin("fake-raises", "fake_raises", name="badbone", body="raise ValueError('boom')")
    assert_isolated(good, "fake-raises", "error", "robovlms_register_backbones() raised ValueError: boom")


@pytest.mark.parametrize(
    ("body", "described"),
    [
        ("return [42]", "int 42"),
        ("return [dict]", "class builtins.dict"),
        ("from fake_wrongname_impl import Goodbone; return [Goodbone]", "name='goodbone'"),
    ],
)
def test_hook_returns_invalid_class(good, body, described):
    good.backbone_plugin("fake-wrongname", "fake_wrongname", name="badbone", body=body)
    assert_isolated(good, "fake-wrongname", "invalid", described)


def test_head_hook_returns_backbone_class(good):
    good.head_plugin(
        "fake-headmix",
        "fake_headmix",
        name="badhead",
        body="from fake_good_impl import Goodbone; return [Goodbone]",
    )
    assert_isolated(good, "fake-headmix", "invalid", "robovlms.BaseActionHead", kind="action_head", name="badhead")


def test_core_version_excluded_by_requires_dist(good):
    good.backbone_plugin("fake-old", "fake_old", name="badbone", requires=("robovlms<0.1", "numpy"))
    cause = f"requires robovlms<0.1 but robovlms {robovlms.__version__} is installed"
    assert_isolated(good, "fake-old", "incompatible", cause)
    assert "fake_old" not in sys.modules, "the range is checked from metadata, before any import"


def test_plugin_api_major_mismatch(good):
    good.dist(
        "fake-api",
        entry_points={"robovlms.backbones": {"badbone": "fake_api"}},
        modules={"fake_api": "PLUGIN_API = '2.0'\n"},
    )
    assert_isolated(good, "fake-api", "incompatible", "targets plugin API 2.0")


def test_plugin_api_newer_minor(good):
    """A plugin using 1.9's additions cannot run on a core that provides 1.2: refused by name, not broken later."""
    good.dist(
        "fake-newer",
        entry_points={"robovlms.backbones": {"badbone": "fake_newer"}},
        modules={"fake_newer": "PLUGIN_API = '1.9'\n"},
    )
    assert_isolated(good, "fake-newer", "incompatible", "targets plugin API 1.9, newer than this robovlms's")


def test_unknown_hook_name(good):
    good.dist(
        "fake-typo",
        entry_points={"robovlms.backbones": {"badbone": "fake_typo"}},
        modules={
            "fake_typo": """
                import robovlms
                PLUGIN_API = "1.0"

                @robovlms.hookimpl
                def robovlms_register_backbone():  # one letter short of the real hook
                    return []
            """
        },
    )
    assert_isolated(good, "fake-typo", "invalid", "robovlms_register_backbone")


def test_a_name_claimed_twice_goes_to_neither_until_the_config_chooses(good, tmp_path, monkeypatch):
    """Which claimant sorts first on sys.path must not decide: a squatter would take the name."""
    later = tmp_path / "later"
    later.mkdir()
    monkeypatch.syspath_prepend(str(later))  # prepend puts it first; move it behind the site
    sys.path.remove(str(later))
    sys.path.append(str(later))
    type(good)(later).backbone_plugin("fake-copycat", "fake_copycat", body="raise ValueError('squatter')")
    environment = {"PYTHONPATH": os.pathsep.join([str(good.root), str(later)])}
    proc = subprocess.run(
        [sys.executable, "-m", "robovlms", "plugins", "--json"],
        capture_output=True,
        text=True,
        env={**os.environ, **environment},
    )
    rows = {r["distribution"]: r for r in json.loads(proc.stdout)}
    assert rows["fake-good"]["status"] == rows["fake-copycat"]["status"] == "conflict"
    assert "also claimed by fake-copycat 1.0.0" in rows["fake-good"]["reason"]
    assert "'fake-good:goodbone'" in rows["fake-good"]["reason"]
    with pytest.raises(PluginError) as excinfo:
        load("backbone", "goodbone")
    message = str(excinfo.value)
    assert "fake-good 1.0.0 and fake-copycat 1.0.0" in message or "fake-copycat 1.0.0 and fake-good 1.0.0" in message
    assert "'fake-good:goodbone'" in message and "ROBOVLMS_DISABLE_PLUGINS" in message and "\n" not in message
    # the qualified name builds the chosen one, however broken the other claimant is
    assert load("backbone", "fake-good:goodbone").__module__ == "fake_good_impl"
    with pytest.raises(PluginError, match=r"fake-copycat.*squatter"):
        load("backbone", "fake-copycat:goodbone")
    with pytest.raises(PluginError, match="no installed distribution 'fake-nobody' provides it"):
        load("backbone", "fake-nobody:goodbone")
    monkeypatch.setenv("ROBOVLMS_DISABLE_PLUGINS", "fake-copycat")
    assert load("backbone", "goodbone").__module__ == "fake_good_impl"


def test_entry_point_names_missing_module(good):
    good.dist("fake-ghost", entry_points={"robovlms.backbones": {"badbone": "fake_ghost.plugin"}})
    code, rows = good.listing()  # found from metadata and the file system alone, without --check
    assert rows["fake-ghost"]["status"] == "missing" and code == 0
    assert_isolated(good, "fake-ghost", "missing", "'fake_ghost.plugin', which is not installed")


def test_check_reports_status_without_raising(good):
    good.backbone_plugin("fake-raises", "fake_raises", name="badbone", body="raise ValueError('boom')")
    statuses = {p.distribution: check(p).status for p in discover() if p.distribution.startswith("fake-")}
    assert statuses == {"fake-good": "ok", "fake-goodhead": "ok", "fake-raises": "error"}
