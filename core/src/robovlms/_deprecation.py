"""Module paths of plugin API 1.0 that moved, kept working for the plugins written against them.

Each old module is a two-line file that calls :func:`moved`: the old name then *is* the new module
(the same objects, so ``isinstance`` and monkeypatching agree) and its first import warns once.
"""

from __future__ import annotations

import sys
import warnings
from importlib import import_module


def moved(old: str, new: str) -> None:
    """Make ``old`` an alias of ``new`` in ``sys.modules``; called by ``old`` while it is imported."""
    warnings.warn(f"{old} is deprecated; import {new} instead", DeprecationWarning, stacklevel=3)
    sys.modules[old] = import_module(new)
