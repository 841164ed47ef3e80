"""Every job of the monorepo: tests across all distributions, one session per distribution, lint.

Distributions are built to wheels and installed non-editable, so tests see what users install.
torch is pinned before anything that depends on it: an unpinned torch pulls a multi-GB CUDA build.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import nox

nox.options.sessions = ["lint", "tests"]
nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True

ROOT = Path(__file__).parent
TORCH = "torch==2.13.0"
#: folder of each distribution, keyed by its nox session name
DISTRIBUTIONS = {
    "core": "core",
    "action_heads": "action-heads",
    "paligemma": "plugins/robovlms-paligemma",
    "llava": "plugins/robovlms-llava",
    "flamingo": "plugins/robovlms-flamingo",
}


def _wheels(session: nox.Session, folders: list[str]) -> list[str]:
    """Build a wheel of each folder into the session's tmp dir (the way pip would from an sdist)."""
    out = Path(session.create_tmp()) / "wheels"
    shutil.rmtree(out, ignore_errors=True)
    session.run(
        "python", "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(out), *(f"./{f}" for f in folders)
    )
    return [str(path) for path in sorted(out.glob("*.whl"))]


def _install(session: nox.Session, folders: list[str]) -> None:
    session.install(TORCH)
    wheels = _wheels(session, folders)
    session.install(*wheels, "pytest>=8")
    # a reused environment already holds these versions; make it hold these builds
    session.install("--force-reinstall", "--no-deps", *wheels)


def _pytest(session: nox.Session, *paths: str) -> None:
    session.run("pytest", "-q", "-p", "no:cacheprovider", *paths, *session.posargs)


@nox.session
def tests(session: nox.Session) -> None:
    """Every distribution's own tests, then the cross-distribution tests, in one environment."""
    folders = list(DISTRIBUTIONS.values())
    _install(session, folders)
    for folder in folders:
        _pytest(session, f"{folder}/tests")
    _pytest(session, "tests")


@nox.session
@nox.parametrize("distribution", list(DISTRIBUTIONS))
def dist(session: nox.Session, distribution: str) -> None:
    """One distribution's tests, with only the core and that distribution installed."""
    folders = sorted({"core", DISTRIBUTIONS[distribution]})
    _install(session, folders)
    _pytest(session, f"{DISTRIBUTIONS[distribution]}/tests")


@nox.session
def demo(session: nox.Session) -> None:
    """The main job on the embedded default: generate expert data, train a tiny VLA, evaluate it, report."""
    _install(session, list(DISTRIBUTIONS.values()))
    session.run("robovlms", "demo", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def bench(session: nox.Session) -> None:
    """Speed goals as ratios measured side by side in one run; JSON in benchmarks/results/, compared with the last.

    Not among the default sessions: timings belong to a quiet machine, not to every test run.
    """
    _install(session, list(DISTRIBUTIONS.values()))
    session.run("python", "benchmarks/run.py", *session.posargs)
