"""What plugins written against plugin API 1.0 touch keeps working: the old module paths and names.

Each old path is the new module itself (same objects, so isinstance and monkeypatching agree), and
importing it warns, in a fresh interpreter so that the first import is the one observed.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

MOVED = {
    "robovlms.backbone": ("robovlms.model.backbone", "BaseRoboVLM"),
    "robovlms.action_head": ("robovlms.model.action_head", "HeadSpec"),
    "robovlms.images": ("robovlms.model.images", "ImageProcessor"),
    "robovlms.tokenization": ("robovlms.model.tokenization", "local_tokenizer"),
    "robovlms.losses": ("robovlms.model.losses", "continuous_action_loss"),
    "robovlms.discovery": ("robovlms.plugins.discovery", "discover"),
    "robovlms.building": ("robovlms.model.components", "build_backbone"),
}


def _probe(old: str, new: str, name: str) -> dict:
    code = f"""
import importlib, json, warnings
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    old = importlib.import_module({old!r})
new = importlib.import_module({new!r})
print(json.dumps({{
    "same": getattr(old, {name!r}) is getattr(new, {name!r}),
    "warnings": [str(w.message) for w in caught if issubclass(w.category, DeprecationWarning)],
}}))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


@pytest.mark.parametrize("old", sorted(MOVED))
def test_old_module_path_is_the_new_module_and_warns(old: str) -> None:
    new, name = MOVED[old]
    probe = _probe(old, new, name)
    assert probe["same"]
    assert any(old in message and "deprecated" in message for message in probe["warnings"]), probe["warnings"]


def test_building_still_builds_vlas() -> None:
    probe = _probe("robovlms.building", "robovlms.model.vla", "build_vla")
    assert probe["same"]


def test_plugins_load_is_still_there() -> None:
    from robovlms.plugins import load
    from robovlms.plugins.loading import load as loader

    assert load is loader


def test_a_head_section_built_alone_may_still_name_its_head() -> None:
    from robovlms.config import ActionHeadConfig

    assert ActionHeadConfig(type="lstm", hidden_size=8).hidden_size == 8
