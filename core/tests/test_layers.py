"""The layers of the core hold: the lint session's import contracts pass, and fail on a planted upward import.

The contracts (core/pyproject.toml) are checked on a copy of the sources, so a planted import never
touches the real tree. Function-level imports count: an import inside a function is an import.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[1]


def lint_imports(tmp_path: Path, plant: tuple[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """lint-imports over a copy of the sources, with ``plant`` = (module file, code) appended first."""
    shutil.copytree(CORE / "src" / "robovlms", tmp_path / "robovlms")
    if plant is not None:
        path = tmp_path / "robovlms" / plant[0]
        path.write_text(path.read_text() + plant[1])
    script = Path(sys.executable).with_name("lint-imports")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    return subprocess.run(
        [str(script), "--config", str(CORE / "pyproject.toml"), "--no-cache"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )


def test_the_core_keeps_its_layers(tmp_path: Path) -> None:
    result = lint_imports(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "code", "message"),
    [
        # the plugin machinery reaching up into training, inside a function, as the old cycles did
        (
            "plugins/discovery.py",
            "\n\ndef _sneaky():\n    from robovlms.training import trainer\n\n    return trainer\n",
            "robovlms.plugins is not allowed to import robovlms.training",
        ),
        # a contract module of the model importing the VLA built on it
        (
            "model/backbone.py",
            "\n\ndef _sneaky():\n    from robovlms.model import vla\n\n    return vla\n",
            "robovlms.model.backbone is not allowed to import robovlms.model.vla",
        ),
    ],
)
def test_a_planted_upward_import_fails_the_lint(tmp_path: Path, module: str, code: str, message: str) -> None:
    result = lint_imports(tmp_path, (module, code))
    assert result.returncode == 1
    assert message in result.stdout
