"""Every job of the monorepo: tests across all distributions, one session per distribution, lint.

Distributions are built to wheels and installed non-editable, so tests see what users install.
torch is pinned before anything that depends on it: an unpinned torch pulls a multi-GB CUDA build.
"""

from __future__ import annotations

import ctypes.util
import io
import os
import re
import shutil
import subprocess
import tarfile
from pathlib import Path

import nox
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

nox.options.sessions = ["lint", "tests", "legacy", "metaworld_smoke"]
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
    "qwen2vl": "plugins/robovlms-qwen2vl",
    "kosmos2": "plugins/robovlms-kosmos2",
}


def _wheels(session: nox.Session, folders: list[str]) -> list[str]:
    """Build a wheel of each folder into the session's tmp dir (the way pip would from an sdist)."""
    out = Path(session.create_tmp()) / "wheels"
    shutil.rmtree(out, ignore_errors=True)
    paths = [str(ROOT / f) for f in folders]  # folders may also be absolute (a core exported from git)
    session.run("python", "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(out), *paths)
    return [str(path) for path in sorted(out.glob("*.whl"))]


def _install(session: nox.Session, folders: list[str]) -> None:
    session.install(TORCH)
    wheels = _wheels(session, folders)
    # the lora and video extras are tested too; import-linter for the test that plants an upward import,
    # hypothesis for the property test of robovlms validate
    session.install(*wheels, "pytest>=8", "peft>=0.10", "av>=12", "import-linter>=2.3", "hypothesis>=6")
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


PLUGINS = {name: folder for name, folder in DISTRIBUTIONS.items() if name != "core"}
#: where the core declares its version: version.py since 0.1.1, the package's __init__.py before
CORE_VERSION_FILES = ("core/src/robovlms/version.py", "core/src/robovlms/__init__.py")
#: the last commit of plugin API 1.0's original layout (robovlms 0.1.0): nox -s legacy runs its plugins
LEGACY = "cc48690a0e0742ee5722877d9349d4b078c3fa0a"


def _declared(text: str) -> Version:
    match = re.search(r'^__version__ = "([^"]+)"', text, re.MULTILINE)
    if match is None:
        raise ValueError("no __version__ declared")
    return Version(match.group(1))


def _git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=True).stdout


def _core_at(revision: str) -> Version | None:
    for path in CORE_VERSION_FILES:
        try:
            return _declared(_git("show", f"{revision}:{path}"))
        except (subprocess.CalledProcessError, ValueError):  # not there yet, or no longer declared there
            continue
    return None  # before the core existed


def _core_releases() -> dict[Version, str]:
    """Every core version in git history, and the commit that stands for it.

    A tag ``robovlms-v<version>`` marks a release and wins. Without one, a version stands for the last
    commit that declared it in core/src/robovlms/__init__.py: the parent of the commit that raised the
    version, or HEAD for the version HEAD declares. With one version so far, that is HEAD.
    """
    releases = {_core_at("HEAD"): _git("rev-parse", "HEAD").strip()}
    for commit in _git("log", "--format=%H", "--", *CORE_VERSION_FILES).split():  # newest first
        before = _core_at(f"{commit}^")
        if before is not None and before != _core_at(commit) and before not in releases:
            releases[before] = _git("rev-parse", f"{commit}^").strip()
    for tag in _git("tag", "--list", "robovlms-v*").split():
        releases[Version(tag.removeprefix("robovlms-v"))] = _git("rev-list", "-n", "1", tag).strip()
    return releases


def _export(commit: str, folder: str, target: Path) -> Path:
    """A folder as ``commit`` holds it: tracked files only, as a release would ship them."""
    shutil.rmtree(target, ignore_errors=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit, folder], capture_output=True, check=True)
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(target, filter="data")
    return target / folder


def _core_range(folder: str) -> SpecifierSet:
    project = nox.project.load_toml(ROOT / folder / "pyproject.toml")["project"]
    ranges = [Requirement(d).specifier for d in project["dependencies"] if Requirement(d).name == "robovlms"]
    if not ranges:
        raise ValueError(f"{folder}/pyproject.toml does not depend on robovlms")
    return ranges[0]


@nox.session
@nox.parametrize("core", ["current", "oldest"])
@nox.parametrize("plugin", list(PLUGINS))
def compat(session: nox.Session, plugin: str, core: str) -> None:
    """A plugin's own tests against the working tree's core, or the oldest core its range admits (from git)."""
    folder, admitted = PLUGINS[plugin], _core_range(PLUGINS[plugin])
    if core == "current":
        version, source = _declared((ROOT / CORE_VERSION_FILES[0]).read_text()), "core"
        if not admitted.contains(version, prereleases=True):
            session.error(f"{folder} requires robovlms{admitted}, which excludes this core ({version})")
    else:
        releases = {v: c for v, c in _core_releases().items() if admitted.contains(v, prereleases=True)}
        if not releases:
            session.error(f"{folder} requires robovlms{admitted}; no core version in git history is in that range")
        version = min(releases)
        source = str(_export(releases[version], "core", Path(session.create_tmp()) / f"robovlms-{version}"))
        session.log(f"oldest robovlms that {folder} admits: {version}, at commit {releases[version]}")
    _install(session, [source, folder])
    _pytest(session, f"{folder}/tests")


#: plugins of plugin API 1.0 that the current core must run unedited: the generator's output of 0.1.0
LEGACY_GENERATED = ("tests/legacy/robovlms-legacyvlm", "tests/legacy/robovlms-legacyhead")


@nox.session
def legacy(session: nox.Session) -> None:
    """Plugins written against plugin API 1.0 before the core was layered, their tests unedited, on this core.

    The repository's own plugins come from git as they were at LEGACY; the generated ones are kept in
    tests/legacy. Each is installed beside the current core and runs its own tests.
    """
    exported = Path(session.create_tmp()) / "legacy"
    at_legacy = set(_git("ls-tree", "-d", "--name-only", LEGACY, "plugins/").split())
    old = [
        str(_export(LEGACY, folder, exported / name))
        for name, folder in PLUGINS.items()
        if not folder.startswith("plugins/") or folder in at_legacy  # plugins born after 1.0 have no legacy
    ]
    _install(session, ["core", *old, *LEGACY_GENERATED])
    for folder in [*old, *LEGACY_GENERATED]:
        _pytest(session, "-W", "ignore::DeprecationWarning", f"{folder}/tests")


@nox.session
def demo(session: nox.Session) -> None:
    """The main job on the embedded default: generate expert data, train a tiny VLA, evaluate it, report."""
    _install(session, list(DISTRIBUTIONS.values()))
    session.run("robovlms", "demo", *session.posargs)


#: environment plugins: kept out of DISTRIBUTIONS, since rendering needs system OpenGL (Mesa) packages
ENVIRONMENTS = {"metaworld": "environments/robovlms-metaworld"}
MESA = ("libegl-mesa0", "libosmesa6", "libgl1")


def _opengl(session: nox.Session) -> None:
    """Install Mesa where this runs as root; elsewhere skip the session, saying what to install."""
    gl = os.environ.setdefault("MUJOCO_GL", "egl")
    library = {"egl": "EGL", "osmesa": "OSMesa"}.get(gl, "GL")
    if ctypes.util.find_library(library):
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        session.skip(f"MUJOCO_GL={gl} needs lib{library}; as root: apt-get install {' '.join(MESA)}")
    session.run("apt-get", "update", "-qq", external=True)
    session.run("apt-get", "install", "-y", "-qq", *MESA, external=True)


@nox.session
def metaworld_smoke(session: nox.Session) -> None:
    """Meta-World's tests: a few expert steps, rendered frames, a tiny train and a one-episode eval."""
    _opengl(session)
    _install(session, [*DISTRIBUTIONS.values(), ENVIRONMENTS["metaworld"]])
    _pytest(session, f"{ENVIRONMENTS['metaworld']}/tests")


@nox.session
def metaworld(session: nox.Session) -> None:
    """The Meta-World report: expert data on reach, push and pick-place, a tiny VLA, closed loop (under 45 min)."""
    _opengl(session)
    _install(session, [*DISTRIBUTIONS.values(), ENVIRONMENTS["metaworld"]])
    session.run("python", "-m", "robovlms_metaworld.report", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """Style (ruff), the core's layers (import-linter: no upward import, no cycle) and types (mypy)."""
    session.install("ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.install(TORCH)
    folders = [*DISTRIBUTIONS.values(), *ENVIRONMENTS.values()]  # typing needs no OpenGL
    # editable: lint-imports and mypy read the sources in place
    tools = ("import-linter>=2.3", "mypy>=1.10", "pytest>=8", "peft>=0.10")  # the last two: typed testing and lora
    session.install(*(f"--editable={ROOT / folder}" for folder in folders), *tools)
    session.run("lint-imports", "--config", "core/pyproject.toml")
    packages = ["robovlms", *(f"robovlms_{name}" for name in [*DISTRIBUTIONS, *ENVIRONMENTS] if name != "core")]
    session.run("mypy", *(arg for package in packages for arg in ("-p", package)))


@nox.session
def scaffold_sweep(session: nox.Session) -> None:
    """robovlms new-plugin over transformers' whole image-text-to-text mapping: which classes get a plugin
    whose generated tests pass, and why the others do not (report.md in the session's tmp folder).

    Not among the default sessions (it builds every class of the mapping); a few classes run in the tests.
    """
    _install(session, ["core"])
    session.install("hatchling>=1.24")  # builds the generated plugins without fetching it once per plugin
    out = Path(session.create_tmp()) / "scaffold-sweep"
    shutil.rmtree(out, ignore_errors=True)
    session.run("python", "-m", "robovlms.scaffold.sweep", str(out), *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """Speed goals as ratios measured side by side in one run; JSON in benchmarks/results/, compared with the last.

    Not among the default sessions: timings belong to a quiet machine, not to every test run.
    """
    _install(session, list(DISTRIBUTIONS.values()))
    session.run("python", "benchmarks/run.py", *session.posargs)


@nox.session
def memory(session: nox.Session) -> None:
    """What each installed backbone's full preset needs in memory: measured on this CPU, projected per GPU.

    Not a default session: it builds 3B to 9B models (minutes each, up to --budget-gib of memory).
    """
    _install(session, list(DISTRIBUTIONS.values()))
    session.install("psutil")
    session.run("python", "benchmarks/memory_full_presets.py", "--check", *session.posargs)
