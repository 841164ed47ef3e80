"""The environment switches that choose which plugins load, and what `robovlms plugins` costs."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from robovlms import PluginError
from robovlms.plugins.loading import load


@pytest.fixture
def two(site):
    site.backbone_plugin("fake-good", "fake_good")
    site.head_plugin("fake-goodhead", "fake_goodhead")
    return site


def test_only_listed_plugins_load(two, monkeypatch):
    _, rows = two.listing(env={"ROBOVLMS_PLUGINS": "fake-goodhead"})
    assert rows["fake-goodhead"]["status"] == "ok"
    assert rows["fake-good"]["status"] == "disabled" and "ROBOVLMS_PLUGINS" in rows["fake-good"]["reason"]
    monkeypatch.setenv("ROBOVLMS_PLUGINS", "goodbone")  # a component name works as well as a distribution
    assert load("backbone", "goodbone").name == "goodbone"
    with pytest.raises(PluginError, match=r"fake-goodhead .* cannot be used \(disabled\)"):
        load("action_head", "goodhead")


def test_empty_plugin_list_loads_none(two):
    _, rows = two.listing(env={"ROBOVLMS_PLUGINS": ""})
    assert {row["status"] for row in rows.values()} == {"disabled"}


def test_disabled_plugins_are_shown_and_not_loaded(two, monkeypatch):
    _, rows = two.listing(env={"ROBOVLMS_DISABLE_PLUGINS": "fake-good"})
    assert rows["fake-good"]["status"] == "disabled" and rows["fake-goodhead"]["status"] == "ok"
    monkeypatch.setenv("ROBOVLMS_DISABLE_PLUGINS", "fake-good")
    with pytest.raises(PluginError, match="disabled"):
        load("backbone", "goodbone")
    assert "fake_good" not in sys.modules


def test_strict_mode_turns_any_problem_into_an_error(two, monkeypatch):
    two.backbone_plugin("fake-old", "fake_old", name="oldbone", requires=("robovlms>=9",))
    code, _ = two.listing()
    assert code == 0
    code, _ = two.listing(env={"ROBOVLMS_STRICT_PLUGINS": "1"})
    assert code == 1
    monkeypatch.setenv("ROBOVLMS_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError, match="ROBOVLMS_STRICT_PLUGINS is set and backbone 'oldbone' from fake-old"):
        load("backbone", "goodbone")


def test_listing_imports_no_torch_transformers_or_plugin(two):
    code = (
        "import sys; from robovlms.cli import main; main(['plugins', '--json']); "
        "heavy = {'torch', 'transformers', 'fake_good', 'fake_goodhead'}; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy or m.startswith('robovlms_')), "
        "file=sys.stderr)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(two.root)}
    )
    assert proc.returncode == 0 and proc.stderr.strip() == "[]"


def test_import_robovlms_imports_no_torch():
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import robovlms"], capture_output=True, text=True, check=True
    )
    imported = {line.split("|")[-1].strip().split(".")[0] for line in proc.stderr.splitlines()[1:]}
    assert "robovlms" in imported
    assert not imported & {"torch", "transformers"}
    assert not any(name.startswith("robovlms_") for name in imported), "no plugin module"
