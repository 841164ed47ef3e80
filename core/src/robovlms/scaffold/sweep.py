"""``robovlms new-plugin`` over every class of transformers' image-text-to-text mapping, with a report.

For each class the generator either writes a plugin (then its generated tests run, unedited) or
writes stubs and says why. The plugins are installed without dependencies into one folder put on
``PYTHONPATH`` (their entry points are found there) and their tests run in one pytest process, so
a sweep over the whole mapping costs one import of torch and transformers, not one per class.

``python -m robovlms.scaffold.sweep OUT [CLASS ...]`` (``nox -s scaffold_sweep``) writes
``OUT/report.md`` and ``OUT/report.json``: per class ``pass``, ``fail`` (with the first failing
test), ``refused`` (with the generator's reason) or ``not buildable here`` (with why), the pass count,
and the share of the classes this machine can build.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ElementTree
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from robovlms.errors import RoboVLMsError
from robovlms.scaffold.buildable import not_buildable_here
from robovlms.scaffold.generate import new_plugin
from robovlms.scaffold.hf import resolve

#: the status of a class no generator could cover on this machine; the target's denominator leaves it out
UNBUILDABLE = "not buildable here"


@dataclass
class Outcome:
    hf_class: str
    #: ``pass``, ``fail``, ``refused`` or ``not buildable here`` (see :mod:`robovlms.scaffold.buildable`)
    status: str
    reason: str = ""
    component: str = ""


def mapping_classes() -> list[str]:
    """Every model class of transformers' image-text-to-text mapping, once each, sorted."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES

    names = {v if isinstance(v, str) else v[0] for v in MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES.values()}
    return sorted(names)


def _component(hf_class: str) -> str:
    return "s_" + re.sub(r"[^a-z0-9]+", "_", hf_class.lower()).strip("_")


def generate(classes: Sequence[str], out: Path) -> list[Outcome]:
    """A plugin (or stubs and a reason) per class, under ``out/plugins``."""
    outcomes = []
    for hf_class in classes:
        component = _component(hf_class)
        try:
            generated = new_plugin(f"robovlms-{component.replace('_', '-')}", hf_class=hf_class, output=out / "plugins")
        except RoboVLMsError as exc:
            outcomes.append(Outcome(hf_class, "refused", str(exc)))
            continue
        assert generated.hf is not None
        if generated.hf.reason is not None:
            unbuildable = not_buildable_here(resolve(hf_class))
            status = "refused" if unbuildable is None else UNBUILDABLE
            outcomes.append(Outcome(hf_class, status, unbuildable or generated.hf.reason))
        else:
            outcomes.append(Outcome(hf_class, "fail", "its tests did not run", generated.plugin.component))
    return outcomes


def run_tests(outcomes: list[Outcome], out: Path) -> None:
    """Install the generated plugins into ``out/site`` and run all their tests in one pytest process."""
    written = [o for o in outcomes if o.component]
    if not written:
        return
    folders = [str(out / "plugins" / f"robovlms-{o.component.replace('_', '-')}") for o in written]
    site, report = out / "site", out / "junit.xml"
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps"]
    if importlib.util.find_spec("hatchling") is not None:  # else pip fetches it, once per plugin
        pip.append("--no-build-isolation")
    subprocess.run([*pip, "--target", str(site), *folders], check=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    tests = [f"{folder}/tests" for folder in folders]
    pytest = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}", *tests]
    done = subprocess.run(pytest, env=env, cwd=out, capture_output=True, text=True)
    if not report.exists():  # pytest itself failed: every plugin fails with its last words
        for outcome in written:
            outcome.reason = f"pytest wrote no report: {(done.stdout + done.stderr).strip().splitlines()[-1:]}"
        return
    failures: dict[str, str] = {}
    ran: set[str] = set()
    for case in ElementTree.parse(report).iter("testcase"):
        found = re.search(r"test_(s_[a-z0-9_]+)", case.get("classname", ""))
        module = found.group(1) if found else ""
        ran.add(module)
        problem = case.find("failure")
        problem = problem if problem is not None else case.find("error")
        if problem is not None and module not in failures:
            message = (problem.get("message") or "").strip().splitlines()
            failures[module] = f"{case.get('name')}: {message[0] if message else problem.tag}"
    for outcome in written:
        if outcome.component in failures:
            outcome.reason = failures[outcome.component]
        elif outcome.component in ran:
            outcome.status, outcome.reason = "pass", ""


def report(outcomes: list[Outcome], seconds: float) -> str:
    passed = sum(o.status == "pass" for o in outcomes)
    buildable = sum(o.status != UNBUILDABLE for o in outcomes)
    share = f"{100 * passed / buildable:.0f}%" if buildable else "none"
    lines = [
        "# robovlms new-plugin over transformers' image-text-to-text mapping",
        "",
        f"{passed} of {len(outcomes)} classes get a plugin whose generated tests pass unedited ({seconds:.0f} s).",
        f"{len(outcomes) - buildable} of them cannot be built on this machine at all ({UNBUILDABLE}: their inputs "
        f"are not images, or a part needs a library that does not import here); of the {buildable} that can, "
        f"{passed} pass ({share}).",
        "",
        "| class | result | reason |",
        "|---|---|---|",
    ]
    lines += [f"| `{o.hf_class}` | {o.status} | {o.reason.replace('|', '/')} |" for o in outcomes]
    return "\n".join(lines) + "\n"


def sweep(out: Path, classes: Sequence[str] | None = None, *, tests: bool = True) -> list[Outcome]:
    """Generate, test and report; the report goes to ``out/report.md`` and ``out/report.json``."""
    start = time.perf_counter()
    out = out.resolve()  # pytest runs inside it
    out.mkdir(parents=True, exist_ok=True)
    outcomes = generate(classes or mapping_classes(), out)
    if tests:
        run_tests(outcomes, out)
    text = report(outcomes, time.perf_counter() - start)
    (out / "report.md").write_text(text, encoding="utf-8")
    (out / "report.json").write_text(json.dumps([asdict(o) for o in outcomes], indent=1), encoding="utf-8")
    print(text)
    return outcomes


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        print("usage: python -m robovlms.scaffold.sweep OUT [CLASS ...]", file=sys.stderr)
        return 2
    sweep(Path(args[0]), args[1:] or None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
