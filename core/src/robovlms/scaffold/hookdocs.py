"""The hooks section of the plugin guide, rendered from :mod:`robovlms.plugins.hookspecs`.

The guide keeps the rendering between two markers. tests/test_docs.py fails when the two differ, so
a hook that changes in the code cannot stay documented the old way;
``python -m robovlms.scaffold.hookdocs docs/plugins.md`` rewrites the section.
"""

from __future__ import annotations

import inspect
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from robovlms.plugins import hookspecs

BEGIN = "<!-- hookspecs: rendered from robovlms/plugins/hookspecs.py by python -m robovlms.scaffold.hookdocs -->"
END = "<!-- /hookspecs -->"


def _signature(function: Callable[..., object]) -> str:
    # with postponed annotations, inspect shows every type quoted; the guide shows them as written
    signature = inspect.signature(function)
    params = ", ".join(f"{name}: {p.annotation}" for name, p in signature.parameters.items())
    return f"{function.__name__}({params}) -> {signature.return_annotation}"


def _markdown(docstring: str) -> str:
    """reST roles and double backticks, as the docstrings use them, in markdown."""
    return re.sub(r":\w+:`([^`]+)`", r"`\1`", docstring).replace("``", "`")


def render() -> str:
    """One subsection per hookspec, in the order of hookspecs.py."""
    specs = [
        (function, getattr(function, f"{hookspecs.PROJECT}_spec"))
        for _, function in inspect.getmembers(hookspecs, inspect.isfunction)
        if hasattr(function, f"{hookspecs.PROJECT}_spec")
    ]
    specs.sort(key=lambda spec: spec[0].__code__.co_firstlineno)
    sections = []
    for function, options in specs:
        note = ""
        if options.get("firstresult"):
            note = "\n\n*firstresult*: the first implementation that returns something other than `None` wins."
        sections.append(f"### `{_signature(function)}`{note}\n\n{_markdown(inspect.getdoc(function) or '')}")
    return "\n\n".join(sections)


def section(text: str) -> str:
    """What the guide holds between the markers."""
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    return text[start:end].strip()


def update(path: Path) -> bool:
    """Rewrite the section of the guide at ``path``; whether anything changed."""
    text = path.read_text(encoding="utf-8")
    new = text[: text.index(BEGIN) + len(BEGIN)] + "\n\n" + render() + "\n\n" + text[text.index(END) :]
    path.write_text(new, encoding="utf-8")
    return new != text


def main(argv: Sequence[str] | None = None) -> int:
    paths = list(argv if argv is not None else sys.argv[1:]) or ["docs/plugins.md"]
    for path in paths:
        print(f"{path}: {'updated' if update(Path(path)) else 'up to date'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
