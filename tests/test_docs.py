"""The plugin guide runs: every code block of docs/plugins.md, in order, and its hooks match the code.

The blocks run one after the other in an empty folder, as a reader would type them. A block whose
info string names ``file=PATH`` is written there for the blocks after it (``pip install`` reads the
pyproject files, pytest the tests; a JSON config is validated too); every other block is run: bash
with ``bash -e``, Python as a script. A block of any other kind fails the test, so the guide cannot
hold code that no test runs.

They run in a virtual environment layered over this one (its site-packages are added by a ``.pth``
file), so the guide's ``pip install`` puts the example plugins there and leaves this environment as
it was.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

import pytest

from robovlms.config import load_config
from robovlms.plugins.discovery import discover
from robovlms.scaffold import hookdocs

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "plugins.md"
FENCE = re.compile(r"^```(?P<info>[^\n`]*)\n(?P<body>.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
#: console scripts the guide calls, run by the layered environment's python
SCRIPTS = {"robovlms": "robovlms.cli", "pytest": "pytest", "pip": "pip"}


@dataclass(frozen=True)
class Block:
    line: int
    language: str
    file: str | None
    body: str


def blocks(text: str) -> list[Block]:
    found = []
    for match in FENCE.finditer(text):
        language, *options = match["info"].split()
        settings = dict(option.split("=", 1) for option in options)
        found.append(Block(text.count("\n", 0, match.start()) + 1, language, settings.get("file"), match["body"]))
    return found


def layered_environment(root: Path) -> dict[str, str]:
    """A venv whose own site-packages come first and this environment's after them."""
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    parent = sysconfig.get_paths()["purelib"]
    Path(site, "_parent_environment.pth").write_text(f"import site; site.addsitedir({parent!r})\n")
    for script, module in SCRIPTS.items():
        path = venv / "bin" / script
        path.write_text(f"#!{python}\nfrom runpy import run_module\n\nrun_module({module!r}, run_name='__main__')\n")
        path.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHON", "ROBOVLMS_"))}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env['PATH']}"
    return env


def run_block(block: Block, cwd: Path, env: dict[str, str]) -> None:
    where = f"docs/plugins.md:{block.line} ({block.language})"
    if block.file is not None:
        path = cwd / block.file
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(block.body)
        if block.language == "json":
            load_config(json.loads(block.body))
        elif block.language not in ("python", "toml"):
            pytest.fail(f"{where}: a {block.language!r} file is used by no block")
        return
    if block.language == "bash":
        command = ["bash", "-euo", "pipefail", "-c", block.body]
    elif block.language == "python":
        command = ["python", "-c", block.body]
    else:
        pytest.fail(f"{where}: a {block.language!r} block can be neither run nor written; give it file=")
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, f"{where} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"


def test_hooks_section_is_rendered_from_hookspecs() -> None:
    assert hookdocs.section(GUIDE.read_text()) == hookdocs.render(), (
        "docs/plugins.md is stale: run python -m robovlms.scaffold.hookdocs docs/plugins.md"
    )


def test_every_code_block_runs(tmp_path: Path) -> None:
    env = layered_environment(tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    found = blocks(GUIDE.read_text())
    assert {b.language for b in found} >= {"bash", "python", "toml", "json"}
    for block in found:
        run_block(block, work, env)
    assert not {"vipllava", "gru"} & {p.name for p in discover()}, "the guide's plugins must stay in its environment"
